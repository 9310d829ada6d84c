// tome::service (service.h): read_document (session creation, document records, checkpointed
// prefill that resumes) and ask (a thread branching from the document state, generation, save).
#include "tome/service/service.h"

#include "tome/choose.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

namespace tome::service {

std::filesystem::path default_library_path() {
  if (const char* p = std::getenv("TOME_LIBRARY"); p && *p) return p;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x)
    return std::filesystem::path(x) / "tome" / "library.db";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : ".") / ".local" / "share" / "tome" /
         "library.db";
}

result<store::checkpoint_result> read_document(store::library& lib, std::shared_ptr<const model> m,
                                               const std::string& session,
                                               const store::document_record& doc,
                                               std::span<const int32_t> doc_tokens,
                                               const read_params& p) {
  if (!m) return error("no model");
  auto info = lib.info(session);
  if (!info) {
    store::session_spec spec = p.spec;
    spec.name = session;
    auto created = lib.create_session(*m, spec);
    if (!created) return created.error_status();
    info = std::move(created);
  }
  auto committed = lib.tokens(session);
  if (!committed) return committed.error_status();
  // Read before and changed since (same path and kind, other content: a repository with edited
  // files, a revised book): keep what precedes the first changed token, from the last checkpoint
  // before it, and read the rest.
  for (size_t i = 0; i < info->documents.size(); ++i) {
    const store::document_record& old = info->documents[i];
    if (old.path != doc.path || old.kind != doc.kind || old.content_hash == doc.content_hash) continue;
    if (i + 1 != info->documents.size())
      return error("session '" + session + "': '" + old.path +
                   "' changed, and other documents were read after it: remove the session and "
                   "read them again");
    if (old.token_begin > static_cast<int64_t>(committed->size()))
      return error("session '" + session + "': the document starts after the saved tokens");
    std::vector<int32_t> all(committed->begin(), committed->begin() + old.token_begin);
    all.insert(all.end(), doc_tokens.begin(), doc_tokens.end());
    size_t first = 0;
    while (first < std::min(all.size(), committed->size()) && all[first] == (*committed)[first]) ++first;
    auto kept = lib.rewind(session, static_cast<int64_t>(first));
    if (!kept) return kept.error_status();
    store::document_record rec = doc;
    rec.token_begin = old.token_begin;
    rec.token_end = old.token_begin + static_cast<int64_t>(doc_tokens.size());
    if (*kept > old.token_begin) {
      TOME_TRY(lib.update_document(session, i, rec));
    } else {
      TOME_TRY(lib.add_document(session, rec));  // rewind removed it (it started at or after)
    }
    return lib.prefill(session, std::move(m), all, p.checkpoint);
  }
  const int64_t len = static_cast<int64_t>(doc_tokens.size());
  int64_t begin = -1;
  for (const auto& d : info->documents)
    if (d.path == doc.path && d.content_hash == doc.content_hash &&
        d.token_end - d.token_begin == len)
      begin = d.token_begin;  // read before (perhaps not to the end): resume it
  if (begin < 0) {
    if (!info->complete())
      return error("session '" + session + "' has an unfinished document ('" +
                   (info->documents.empty() ? std::string("?") : info->documents.back().title) +
                   "'): read it again to finish it first");
    begin = info->n_tokens;
    store::document_record rec = doc;
    rec.token_begin = begin;
    rec.token_end = begin + len;
    TOME_TRY(lib.add_document(session, rec));
  }
  if (begin > static_cast<int64_t>(committed->size()))
    return error("session '" + session + "': the document starts after the saved tokens");
  std::vector<int32_t> all(committed->begin(), committed->begin() + begin);
  all.insert(all.end(), doc_tokens.begin(), doc_tokens.end());
  if (static_cast<int64_t>(committed->size()) > static_cast<int64_t>(all.size()))
    all.insert(all.end(), committed->begin() + static_cast<std::ptrdiff_t>(all.size()),
               committed->end());
  return lib.prefill(session, std::move(m), all, p.checkpoint);
}

namespace {

// The thread to answer in: p.thread, or a new "q<N>"; created in the library when new.
result<std::string> thread_for(store::library& lib, const store::session_info& info,
                               const std::string& session, const std::string& wanted) {
  std::string name = wanted;
  bool exists = false;
  for (const auto& t : info.threads) exists = exists || t.name == name;
  if (name.empty()) {
    for (size_t i = info.threads.size() + 1;; ++i) {
      name = "q" + std::to_string(i);
      bool taken = false;
      for (const auto& t : info.threads) taken = taken || t.name == name;
      if (!taken) break;
    }
  }
  if (!exists) {
    auto t = lib.create_thread(session, name);
    if (!t) return t.error_status();
  }
  return name;
}

result<std::vector<int32_t>> question_tokens(const model& m, const std::string& question) {
  if (m.config().templates.count("question"))
    return m.tok().encode_template("question", {{"question", question}});
  return m.tok().encode(question);
}

// The content-free questions of ask_params::path_prior_weight, in the training form of
// "Which file defines" (training/data/tasks.py WHICHFILE_FORMS[0]). Two, not three: the third
// ("`x`") changed the calibrated choice's accuracy by at most 1.6 points on 4K and 16K windows and
// whole repositories (training/results/whichfile-errors/, "How many null questions").
constexpr const char* kNullQuestions[] = {"Which file defines `N/A`?", "Which file defines ``?"};
// Its key in the session library (store::library::put_derived), and the value's format version.
constexpr const char* kPriorKey = "which-file path prior";
constexpr int kPriorVersion = 1;

// The paths of a context, each with its prior (mean log p(path, EOS) after kNullQuestions).
struct path_prior_t {
  std::vector<std::string> paths;
  std::vector<double> logprobs;
};

std::string encode_prior(const model& m, const path_prior_t& pr) {
  nlohmann::json j;
  j["version"] = kPriorVersion;
  j["model_fingerprint"] = m.fingerprint();
  j["questions"] = std::vector<std::string>(std::begin(kNullQuestions), std::end(kNullQuestions));
  j["paths"] = pr.paths;
  j["logprobs"] = pr.logprobs;
  return j.dump();
}

// A stored prior, if it is for this model, these questions and exactly these paths (anything
// else, a damaged value included, is computed again and replaced).
std::optional<path_prior_t> decode_prior(const model& m, const std::string& value,
                                         const std::vector<std::string>& paths) {
  auto j = nlohmann::json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    if (j.value("version", 0) != kPriorVersion ||
        j.value("model_fingerprint", std::string()) != m.fingerprint() ||
        j.at("questions").get<std::vector<std::string>>() !=
            std::vector<std::string>(std::begin(kNullQuestions), std::end(kNullQuestions)) ||
        j.at("paths").get<std::vector<std::string>>() != paths)
      return std::nullopt;
    path_prior_t out{paths, j.at("logprobs").get<std::vector<double>>()};
    if (out.logprobs.size() != paths.size()) return std::nullopt;
    for (double v : out.logprobs)
      if (!std::isfinite(v)) return std::nullopt;
    return out;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

bool prior_wanted(const model& m, const ask_params& p) {
  return p.choose_path && p.path_prior_weight > 0 && m.config().special_id("eos") >= 0 &&
         m.config().special_id("file_start") >= 0;
}

// ask_params::pointer: the rows of the question's symbol when the pointer will answer (the model
// has pointer heads, the question names a symbol); none otherwise.
std::optional<std::pair<size_t, size_t>> pointer_rows(const model& m, const ask_params& p,
                                                      std::span<const int32_t> question) {
  if (!p.choose_path || !p.pointer || m.config().pointer_heads.empty() || m.config().special_id("file_start") < 0)
    return std::nullopt;
  return symbol_tokens(m.tok(), question);
}

// The pointer's reading: the mass and the name's occurrences by path (paths of s's tokens before
// the question, in order).
struct pointer_t {
  ask_params::pointer_event event;
  std::vector<float> attention;  // by position of the context (tome::pointer_attention)
};

// Prefills the question into s; with ask_params::pointer (pointer_rows), the pointer heads read
// at the symbol's rows on the way (tome::pointer_attention).
result<pointer_t> prefill_question(session& s, std::span<const int32_t> q, const ask_params& p) {
  const model& m = s.get_model();
  pointer_t out;
  const int64_t context_end = s.n_tokens();
  const auto rows = pointer_rows(m, p, q);
  size_t done = 0;
  if (rows) {
    auto mass = pointer_attention(s, q, *rows, p.gen.cancel);
    if (!mass) return mass.error_status();
    done = rows->second + 1;
    const std::span<const int32_t> ctx(s.tokens().data(), static_cast<size_t>(context_end));
    const int32_t file_start = m.config().special_id("file_start");
    auto& ev = out.event;
    ev.paths = file_paths(m.tok(), ctx, file_start);
    const auto spans = file_spans(m.tok(), ctx, file_start, m.config().special_id("doc_end"), context_end);
    ev.mass = pointer_mass(*mass, spans, ev.paths);
    ev.symbol = symbol_name(m.tok(), q).value_or(std::string());
    ev.occurrences = symbol_occurrences(m.tok(), ctx, spans, ev.paths, ev.symbol);
    if (!ev.paths.empty()) ev.chosen = pointer_choice(ev.mass, ev.occurrences);
    out.attention = std::move(*mass);
  }
  if (done < q.size()) {  // (the template ends after the symbol; logits() computes them otherwise)
    auto pr = s.prefill(q.subspan(done));
    if (!pr) return pr.error_status();
  }
  return out;
}

// Scores every path after each of kNullQuestions from s's end (where s stays).
result<std::vector<double>> score_prior(session& s, const std::vector<std::string>& paths,
                                        const ask_params& p) {
  const model& m = s.get_model();
  const int32_t eos = m.config().special_id("eos");
  std::vector<std::vector<int32_t>> cands;
  for (const auto& path : paths) cands.push_back(m.tok().encode(path));
  auto start = s.mark();
  if (!start) return start.error_status();
  std::vector<double> sum(paths.size(), 0.0);
  for (const char* null_question : kNullQuestions) {
    auto q = question_tokens(m, null_question);
    if (!q) return q.error_status();
    prefill_params pp;
    pp.cancel = p.gen.cancel;
    auto pr = s.prefill(*q, pp);
    if (!pr || pr->cancelled) {
      (void)s.rewind(*start);
      if (!pr) return pr.error_status();
      return error("cancelled");
    }
    choose_params cp;
    cp.cancel = p.gen.cancel;
    cp.score_all = true;
    cp.max_steps = int64_t{1} << 22;
    auto r = choose(s, cands, eos, cp);
    TOME_TRY(s.rewind(*start));
    if (!r) return r.error_status();
    for (size_t i = 0; i < sum.size(); ++i)
      sum[i] += std::max(-1e4, r->logprobs[i]) / static_cast<double>(std::size(kNullQuestions));
  }
  return sum;
}

// The prior of the paths in the document context: the first n_ctx tokens of the session `name`,
// which `s` holds (s.n_tokens() >= n_ctx). Kept in the session library under kPriorKey at n_ctx,
// so that it is computed once per document, not once per question or process (reading it back
// costs a query). It is computed on `s` when s holds exactly n_ctx tokens, else on `doc` (a
// session at the document state, loaded only when needed) when that holds them; otherwise (a
// thread that branched before a later document, or no room for the second copy) on s at its end,
// and not kept. Empty where there
// is nothing to calibrate (no weight, no paths, no file_start / eos token).
result<path_prior_t> path_prior(store::library& lib, const std::string& name, session& s,
                                int64_t n_ctx, const std::function<result<std::unique_ptr<session>>()>& doc,
                                const ask_params& p) {
  const model& m = s.get_model();
  if (!prior_wanted(m, p)) return path_prior_t{};
  const std::vector<int32_t>& all = s.tokens();
  n_ctx = std::clamp<int64_t>(n_ctx, 0, static_cast<int64_t>(all.size()));
  const std::vector<int32_t> ctx(all.begin(), all.begin() + n_ctx);  // s changes below
  const auto paths = file_paths(m.tok(), ctx, m.config().special_id("file_start"));
  if (paths.empty()) return path_prior_t{};
  // A damaged stored value (checksum) is computed again and replaced, like a stale one.
  if (auto stored = lib.derived(name, kPriorKey, n_ctx); stored && *stored)
    if (auto v = decode_prior(m, **stored, paths)) return *v;
  std::unique_ptr<session> loaded;
  session* at = nullptr;
  if (s.n_tokens() == n_ctx) {
    at = &s;
  } else if (doc) {
    // A second copy of the document on the backend: if it does not fit (or fails otherwise), the
    // prior is computed at s's end instead (not kept), rather than failing the question.
    if (auto d = doc(); d) {
      loaded = std::move(*d);
      if (loaded->n_tokens() == n_ctx && std::equal(ctx.begin(), ctx.end(), loaded->tokens().begin()))
        at = loaded.get();
    }
  }
  session& where = at ? *at : s;
  // What it would cost: one decode step a node of the paths' tree (its distinct non-empty
  // prefixes) per question, the step timed once here.
  ask_params::path_prior_event ev;
  ev.paths = static_cast<int64_t>(paths.size());
  ev.questions = static_cast<int64_t>(std::size(kNullQuestions));
  {
    std::set<std::vector<int32_t>> prefixes;
    for (const auto& path : paths) {
      const auto t = m.tok().encode(path);
      for (size_t i = 1; i <= t.size(); ++i) prefixes.emplace(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(i));
    }
    ev.steps = static_cast<int64_t>(prefixes.size());
  }
  if (p.path_prior_budget_s > 0) {
    auto mk = where.mark();
    if (!mk) return mk.error_status();
    // The second of two steps (the first may set up the backend's decode graph).
    const int32_t probe = m.config().special_id("file_start");
    auto d = where.decode(probe);
    const auto t0 = std::chrono::steady_clock::now();
    if (d) d = where.decode(probe);
    const double step = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    TOME_TRY(where.rewind(*mk));
    if (!d) return d.error_status();
    ev.estimated_seconds = step * static_cast<double>(ev.steps * ev.questions);
    ev.skipped = ev.estimated_seconds > p.path_prior_budget_s;
  }
  if (p.on_path_prior) p.on_path_prior(ev);
  if (ev.skipped) return path_prior_t{};
  auto lp = score_prior(where, paths, p);
  if (!lp) return lp.error_status();
  path_prior_t v{paths, std::move(*lp)};
  // Not kept when it is not the document context's, or when the library cannot be written (a
  // read-only or full disk): the answer does not depend on it, and saving the answer reports the
  // disk's problem.
  if (at) (void)lib.put_derived(name, kPriorKey, n_ctx, encode_prior(m, v));
  return v;
}

// ask_params::choose_path: the most likely of the session's file paths (calibrated by `prior`
// when it is not empty: path_prior), appended with the end token and streamed to on_token as
// generate() would.
result<generate_result> choose_path_answer(session& s, const ask_params& p, const path_prior_t& prior,
                                           const pointer_t& pointer, const token_fn& on_token, bool* pointed) {
  const model& m = s.get_model();
  const int32_t file_start = m.config().special_id("file_start");
  const int32_t eos = m.config().special_id("eos");
  if (file_start < 0 || eos < 0)
    return error("the model has no file_start or eos token: it cannot answer with a file path");
  const auto t0 = std::chrono::steady_clock::now();
  const auto paths = file_paths(m.tok(), s.tokens(), file_start);
  if (paths.empty())
    return error("the session holds no repository files to answer with (only code repositories have paths)");
  std::vector<std::vector<int32_t>> cands;
  cands.reserve(paths.size());
  for (const auto& path : paths) cands.push_back(m.tok().encode(path));
  choose_params cp;
  cp.cancel = p.gen.cancel;
  // An interactive answer: at most 512 decode steps of search (a confident model takes about one a
  // token, ~10), then the cheapest prefix is finished greedily.
  cp.max_steps = 512;
  if (!prior.paths.empty() && prior.paths == paths) {
    cp.prior = prior.logprobs;
    cp.prior_weight = p.path_prior_weight;
  }
  // The pointer, when it read the symbol and some file holds mass: its file (among those holding
  // the symbol's name).
  std::optional<size_t> chosen;
  const auto& ev = pointer.event;
  if (!ev.paths.empty() && ev.paths == paths && ev.mass[ev.chosen] > 0) {
    chosen = ev.chosen;
    if (pointed) *pointed = true;
    if (p.on_pointer) p.on_pointer(ev);
  }
  if (!chosen) {
    auto r = choose(s, cands, eos, cp);
    if (!r) return r.error_status();
    chosen = r->index;
  }
  generate_result out;
  out.tokens = cands[*chosen];
  out.tokens.push_back(eos);
  prefill_params pp;
  pp.compute_logits = false;
  auto pr = s.prefill(out.tokens, pp);
  if (!pr) return pr.error_status();
  out.text = paths[*chosen];
  out.reason = stop_reason::eos;
  if (on_token) {
    detokenizer d(m.tok());
    for (size_t i = 0; i + 1 < out.tokens.size(); ++i)
      if (!on_token(out.tokens[i], d.push(out.tokens[i]))) break;
    (void)on_token(-1, d.flush());
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

// *pointed: the pointer chose the answer (its attention is then the answer's record).
result<generate_result> answer(session& s, const ask_params& p, const path_prior_t& prior,
                               const pointer_t& pointer, std::vector<float>& attention, const token_fn& on_token,
                               bool* pointed) {
  if (p.choose_path) return choose_path_answer(s, p, prior, pointer, on_token, pointed);
  generate_params gp = p.gen;
  if (p.attention) gp.attention = &attention;
  return s.generate(gp, on_token);
}

status check_complete(const store::session_info& info, const std::string& session) {
  if (!info.complete())
    return error("session '" + session + "' is not fully read yet (" + std::to_string(info.n_tokens) +
                 " of " + std::to_string(info.target_tokens) + " tokens): read it again to finish");
  return {};
}

}  // namespace

result<ask_result> ask_resident(store::library& lib, session& s, const session_mark& document_end,
                                const std::string& session_name, const std::string& question,
                                const ask_params& p, const token_fn& on_token) {
  const model& m = s.get_model();
  if (!m.has_tokenizer()) return error("the model has no tokenizer: cannot ask a question in text");
  if (!document_end.valid()) return error("ask_resident: no document mark");
  auto info = lib.info(session_name);
  if (!info) return info.error_status();
  TOME_TRY(check_complete(*info, session_name));
  TOME_TRY(s.rewind(document_end));
  struct rewind_after {  // back to the document's end, whatever happens below
    session& s;
    const session_mark& mk;
    ~rewind_after() { (void)s.rewind(mk); }
  } guard{s, document_end};
  const int64_t n_doc = s.n_tokens();
  if (info->n_tokens != n_doc)
    return error("session '" + session_name + "' changed in the library since it was opened: open it again");
  auto thread = thread_for(lib, *info, session_name, p.thread);
  if (!thread) return thread.error_status();
  auto saved = lib.tokens(session_name, *thread);  // document + the thread's own turns
  if (!saved) return saved.error_status();
  if (static_cast<int64_t>(saved->size()) < n_doc ||
      !std::equal(s.tokens().begin(), s.tokens().end(), saved->begin()))
    return error("session '" + session_name + "' changed in the library since it was opened: open it again");
  auto q = question_tokens(m, question);
  if (!q) return q.error_status();
  // The pointer answers without the prior (computed only where the path choice answers).
  const bool by_pointer = pointer_rows(m, p, *q).has_value();
  auto prior = by_pointer ? result<path_prior_t>(path_prior_t{})
                          : path_prior(lib, session_name, s, n_doc, nullptr, p);  // at the document's end
  if (!prior) return prior.error_status();
  if (static_cast<int64_t>(saved->size()) > n_doc) {
    prefill_params pp;
    pp.compute_logits = false;
    pp.cancel = p.gen.cancel;
    auto r = s.prefill(std::span(*saved).subspan(static_cast<size_t>(n_doc)), pp);
    if (!r) return r.error_status();
    if (r->cancelled) return error("cancelled");
  }
  auto pointer = prefill_question(s, *q, p);
  if (!pointer) return pointer.error_status();
  ask_result out;
  out.thread = *thread;
  bool pointed = false;
  auto gen = answer(s, p, *prior, *pointer, out.attention, on_token, &pointed);
  if (!gen) return gen.error_status();
  out.answer = std::move(*gen);
  if (pointed) out.attention = std::move(pointer->attention);
  TOME_TRY(lib.save(session_name, s, out.thread));
  out.context_tokens = s.n_tokens();
  return out;
}

std::string describe_pointer(const ask_params::pointer_event& e) {
  auto pct = [](double v) { return std::to_string(static_cast<long long>(std::lround(100.0 * v))) + "%"; };
  const size_t n = e.paths.size();
  if (n == 0 || e.chosen >= n || e.mass.size() != n) return "the model's pointer heads found no file";
  int64_t holding = 0;
  for (int64_t o : e.occurrences) holding += o > 0;
  const bool held = e.chosen < e.occurrences.size() && e.occurrences[e.chosen] > 0;
  const std::string name = "`" + e.symbol + "`";
  std::string out;
  if (holding == 0)
    out = name + " occurs in no file; the model's pointer heads attend most to ";
  else if (holding == 1)
    out = name + " occurs only in " + e.paths[e.chosen] + "; the model's pointer heads give it ";
  else
    out = name + " occurs in " + std::to_string(holding) + " files; the model's pointer heads attend most to ";
  if (holding == 1)
    out += pct(e.mass[e.chosen]) + " of their attention";
  else
    out += e.paths[e.chosen] + " (" + pct(e.mass[e.chosen]) + " of their attention)";
  // The runner-up among the same files (all of them when none holds the name): how close it was.
  std::optional<size_t> next;
  for (size_t i = 0; i < n; ++i) {
    const bool h = i < e.occurrences.size() && e.occurrences[i] > 0;
    if (i != e.chosen && h == held && (!next || e.mass[i] > e.mass[*next])) next = i;
  }
  if (next && e.mass[*next] > 0.01) out += "; next " + e.paths[*next] + " (" + pct(e.mass[*next]) + ")";
  // Where the heads looked most outside the files that hold the name.
  if (holding > 0) {
    const size_t top = static_cast<size_t>(std::max_element(e.mass.begin(), e.mass.end()) - e.mass.begin());
    if (top != e.chosen && !(top < e.occurrences.size() && e.occurrences[top] > 0))
      out += "; most of all they attend to " + e.paths[top] + " (" + pct(e.mass[top]) + "), which does not contain it";
  }
  return out;
}

result<ask_result> ask(store::library& lib, std::shared_ptr<const model> m,
                       const std::string& session, const std::string& question, const ask_params& p,
                       const token_fn& on_token) {
  if (!m) return error("no model");
  if (!m->has_tokenizer())
    return error("the model has no tokenizer: cannot ask a question in text");
  auto info = lib.info(session);
  if (!info) return info.error_status();
  TOME_TRY(check_complete(*info, session));
  ask_result out;
  auto thread = thread_for(lib, *info, session, p.thread);
  if (!thread) return thread.error_status();
  out.thread = *thread;
  auto s = lib.load(session, m, out.thread);
  if (!s) return s.error_status();
  int64_t base = info->n_tokens;  // the document tokens the thread branched after
  if (prior_wanted(*m, p)) {
    auto now = lib.info(session);
    if (!now) return now.error_status();
    for (const auto& t : now->threads)
      if (t.name == out.thread) base = t.base_tokens;
  }
  auto q = question_tokens(*m, question);
  if (!q) return q.error_status();
  const bool by_pointer = pointer_rows(*m, p, *q).has_value();  // then no prior (ask_resident)
  auto prior = by_pointer ? result<path_prior_t>(path_prior_t{})
                          : path_prior(lib, session, **s, base, [&] { return lib.load(session, m); }, p);
  if (!prior) return prior.error_status();
  auto pointer = prefill_question(**s, *q, p);
  if (!pointer) return pointer.error_status();
  bool pointed = false;
  auto gen = answer(**s, p, *prior, *pointer, out.attention, on_token, &pointed);
  if (!gen) return gen.error_status();
  out.answer = std::move(*gen);
  if (pointed) out.attention = std::move(pointer->attention);
  TOME_TRY(lib.save(session, **s, out.thread));
  out.context_tokens = (*s)->n_tokens();
  return out;
}

result<generate_result> complete(const store::library& lib, std::shared_ptr<const model> m,
                                 const std::string& session, const std::string& prefix,
                                 const std::string& suffix, const complete_params& p,
                                 const token_fn& on_token) {
  if (!m) return error("no model");
  if (!m->has_tokenizer()) return error("the model has no tokenizer: cannot complete text");
  if (!m->config().templates.count("completion"))
    return error("the model has no \"completion\" template in its config.json");
  auto info = lib.info(session);
  if (!info) return info.error_status();
  if (!info->complete())
    return error("session '" + session + "' is not fully read yet: read it again to finish");
  auto s = lib.load(session, m);
  if (!s) return s.error_status();
  auto fim = m->tok().encode_template("completion", {{"prefix", prefix}, {"suffix", suffix}});
  if (!fim) return fim.error_status();
  auto pr = (*s)->prefill(*fim);
  if (!pr) return pr.error_status();
  return (*s)->generate(p.gen, on_token);
}

}  // namespace tome::service
