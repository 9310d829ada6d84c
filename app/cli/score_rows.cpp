// Rows file reader/writer and teacher-forced scoring for `tome score` (score_rows.h).
#include "score_rows.h"

#include <nlohmann/json.hpp>

#include "tome/choose.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace tome::cli {
namespace {

static_assert(std::endian::native == std::endian::little, "the rows file is little-endian");

constexpr size_t kHeaderBytes = 16;  // magic, version, n_rows

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + 4);
}

// -log softmax(x)[target] in double, and whether target is the (first) argmax.
void score_position(const float* x, int64_t V, int32_t target, double& nll, bool& argmax_ok) {
  int64_t best = 0;
  for (int64_t v = 1; v < V; ++v)
    if (x[v] > x[best]) best = v;
  const double mx = x[best];
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(x[v]) - mx);
  nll = mx + std::log(sum) - static_cast<double>(x[target]);
  argmax_ok = best == target;
}

std::string fmt_double(double v) {
  if (!std::isfinite(v)) return "null";  // JSON has no inf/nan
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string fmt_opt(const std::optional<bool>& b) { return !b ? "null" : *b ? "true" : "false"; }

}  // namespace

result<std::vector<score_row>> parse_rows(const std::vector<uint8_t>& bytes,
                                          const std::string& name, int64_t vocab_size) {
  auto fail = [&](const std::string& what) { return error(name + ": " + what); };
  if (bytes.size() < kHeaderBytes)
    return fail("not a Tome rows file (" + std::to_string(bytes.size()) +
                " bytes, shorter than the " + std::to_string(kHeaderBytes) + "-byte header)");
  if (std::memcmp(bytes.data(), kRowsMagic, sizeof kRowsMagic) != 0)
    return fail("not a Tome rows file (the magic is not TOMEROWS)");
  const uint32_t version = load_u32(bytes.data() + 8);
  if (version != kRowsVersion)
    return fail("rows file version " + std::to_string(version) +
                " is not supported (this tome reads " + std::to_string(kRowsVersion) + ")");
  const uint32_t n_rows = load_u32(bytes.data() + 12);
  std::vector<score_row> rows;
  // Each row takes at least 14 bytes (T = 1): never reserve more than the file can hold.
  rows.reserve(std::min<size_t>(n_rows, (bytes.size() - kHeaderBytes) / 14));
  size_t off = kHeaderBytes;
  for (uint32_t i = 0; i < n_rows; ++i) {
    const std::string row = "row " + std::to_string(i) + " of " + std::to_string(n_rows);
    const size_t left = bytes.size() - off;
    if (left < 4)
      return fail(row + ": truncated (no length; the file ends at byte " + std::to_string(off) +
                  ")");
    const uint64_t T = load_u32(bytes.data() + off);
    if (T == 0) return fail(row + ": length T = 0 (a row needs at least one target)");
    const uint64_t need = 4 + 4 * (T + 1) + 2 * T;  // no overflow: T < 2^32
    if (need > left)
      return fail(row + ": truncated (T = " + std::to_string(T) + " needs " + std::to_string(need) +
                  " bytes, " + std::to_string(left) + " left)");
    score_row r;
    r.tokens.resize(T + 1);
    std::memcpy(r.tokens.data(), bytes.data() + off + 4, 4 * (T + 1));
    const uint8_t* lm = bytes.data() + off + 4 + 4 * (T + 1);
    r.lm.assign(lm, lm + T);
    r.answer.assign(lm + T, lm + 2 * T);
    for (size_t t = 0; t <= T; ++t) {
      const int32_t id = r.tokens[t];
      if (id < 0 || (vocab_size > 0 && id >= vocab_size))
        return fail(row + ": token id " + std::to_string(id) + " at position " + std::to_string(t) +
                    " is outside the vocabulary (size " + std::to_string(vocab_size) + ")");
    }
    for (size_t t = 0; t < T; ++t)
      if (r.lm[t] > 1 || r.answer[t] > 1)
        return fail(row + ": mask byte at position " + std::to_string(t) + " is not 0 or 1");
    rows.push_back(std::move(r));
    off += need;
  }
  if (off != bytes.size())
    return fail(std::to_string(bytes.size() - off) + " bytes after the last of " +
                std::to_string(n_rows) + " rows (a wrong row count or length)");
  return rows;
}

result<std::vector<score_row>> read_rows_file(const std::filesystem::path& path,
                                              int64_t vocab_size) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return error(path.string() + ": cannot be read");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return error(path.string() + ": read error");
  return parse_rows(bytes, path.string(), vocab_size);
}

std::vector<uint8_t> encode_rows(const std::vector<score_row>& rows) {
  std::vector<uint8_t> out(kRowsMagic, kRowsMagic + sizeof kRowsMagic);
  put_u32(out, kRowsVersion);
  put_u32(out, static_cast<uint32_t>(rows.size()));
  for (const score_row& r : rows) {
    put_u32(out, static_cast<uint32_t>(r.lm.size()));
    for (int32_t t : r.tokens) put_u32(out, static_cast<uint32_t>(t));
    out.insert(out.end(), r.lm.begin(), r.lm.end());
    out.insert(out.end(), r.answer.begin(), r.answer.end());
  }
  return out;
}

namespace {

// The row's answer targets without `eos`: the answer's text tokens.
std::vector<int32_t> answer_ids(const score_row& row, int32_t eos) {
  std::vector<int32_t> out;
  for (int64_t t = 0; t < row.length(); ++t) {
    const int32_t id = row.tokens[static_cast<size_t>(t + 1)];
    if (row.answer[static_cast<size_t>(t)] && id != eos) out.push_back(id);
  }
  return out;
}

// score_params::choose_paths for one row whose inputs 0..first-1 are in `ses`: the answer chosen
// among the file paths before it; `ses` ends where it was.
status choose_path(session& ses, const score_row& row, int64_t first, const score_params& p,
                   row_score& out) {
  const model& m = ses.get_model();
  if (!m.has_tokenizer()) return error("choosing paths needs the model's tokenizer");
  const int32_t file_start = m.config().special_id("file_start");
  if (file_start < 0) return error("choosing paths needs the model's file_start token");
  const int64_t T = row.length();
  int64_t a0 = -1;  // the first answer target is a0+1 (inputs 0..a0 come before it)
  for (int64_t t = 0; t < T && a0 < 0; ++t)
    if (row.answer[static_cast<size_t>(t)]) a0 = t;
  if (a0 < 0) return {};
  const std::span<const int32_t> toks(row.tokens);
  const auto paths = file_paths(m.tok(), toks.first(static_cast<size_t>(a0 + 1)), file_start);
  if (paths.empty()) return {};
  const std::vector<int32_t> answer = answer_ids(row, p.eos);
  auto mk = ses.mark();
  if (!mk) return mk.error_status();
  if (a0 + 1 > first) {
    prefill_params pp;
    pp.chunk_tokens = p.prefill_chunk;
    pp.compute_logits = false;
    auto pr = ses.prefill(toks.subspan(static_cast<size_t>(first), static_cast<size_t>(a0 + 1 - first)), pp);
    if (!pr) return pr.error_status();
  }
  std::vector<std::vector<int32_t>> cands;
  for (const auto& path : paths) cands.push_back(m.tok().encode(path));
  choose_params cp;
  if (p.path_scores) {
    cp.score_all = true;
    cp.max_steps = int64_t{1} << 22;
  }
  auto r = choose(ses, cands, p.eos, cp);
  TOME_TRY(ses.rewind(*mk));
  if (!r) return r.error_status();
  for (size_t i = 0; i < r->logprobs.size() && i < paths.size(); ++i)
    out.path_logprobs.emplace_back(paths[i], r->logprobs[i]);
  out.choice_exact = paths[r->index] == m.tok().decode(answer);
  out.choice = paths[r->index];
  out.choices = static_cast<int64_t>(paths.size());
  out.choice_steps = r->steps;
  return {};
}

// score_params::pointer: the rows of the question's symbol (tome::symbol_tokens in the tokens from
// the last question token before the answer) and that question token; none without them.
struct pointer_rows_t {
  int64_t question = 0, first = 0, last = 0;
};
std::optional<pointer_rows_t> pointer_rows(const model& m, const score_row& row) {
  const int32_t question = m.config().special_id("question");
  int64_t a0 = -1;
  for (int64_t t = 0; t < row.length(); ++t)
    if (row.answer[static_cast<size_t>(t)]) {
      a0 = t;
      break;
    }
  if (question < 0 || a0 < 0) return std::nullopt;
  int64_t q0 = -1;
  for (int64_t t = a0; t >= 0; --t)
    if (row.tokens[static_cast<size_t>(t)] == question) {
      q0 = t;
      break;
    }
  if (q0 < 0) return std::nullopt;
  const auto e = symbol_tokens(m.tok(), std::span<const int32_t>(row.tokens).subspan(
                                            static_cast<size_t>(q0), static_cast<size_t>(a0 + 1 - q0)));
  if (!e) return std::nullopt;
  return pointer_rows_t{q0, q0 + static_cast<int64_t>(e->first), q0 + static_cast<int64_t>(e->second)};
}

// The pointer's mass by path (the symbol's rows' mean attention `mass` over the files before
// `context_end`), the symbol's occurrences by path and the pointer's choice (tome::pointer_choice:
// among the files holding the symbol, as `tome ask --choose-path` answers). `question`: the
// question's tokens up to the answer, where tome::symbol_name reads the symbol.
status read_pointer(const model& m, const score_row& row, int64_t context_end, std::span<const int32_t> question,
                    std::span<const float> mass, row_score& out) {
  const std::span<const int32_t> ctx(row.tokens.data(), static_cast<size_t>(context_end));
  const int32_t file_start = m.config().special_id("file_start");
  const auto paths = file_paths(m.tok(), ctx, file_start);
  if (paths.empty()) return {};
  const auto spans = file_spans(m.tok(), ctx, file_start, m.config().special_id("doc_end"), context_end);
  const auto pm = pointer_mass(mass, spans, paths);
  const auto occ = symbol_occurrences(m.tok(), ctx, spans, paths, symbol_name(m.tok(), question).value_or(""));
  size_t top = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    out.pointer_mass.emplace_back(paths[i], pm[i]);
    if (occ[i] > 0) out.pointer_occurrences.emplace_back(paths[i], occ[i]);
    if (pm[i] > pm[top]) top = i;
  }
  out.pointer_top = paths[top];
  out.pointer_choice = paths[pointer_choice(pm, occ)];
  const std::string answer = m.tok().decode(answer_ids(row, m.config().special_id("eos")));
  out.pointer_exact = out.pointer_choice == answer;
  out.pointer_top_exact = out.pointer_top == answer;
  return {};
}

}  // namespace

result<row_score> score_one(const std::shared_ptr<const model>& m, const score_row& row,
                            const score_params& p) {
  const int64_t T = row.length();
  if (static_cast<int64_t>(row.tokens.size()) != T + 1 ||
      static_cast<int64_t>(row.answer.size()) != T)
    return error("score: a row needs tokens [T+1] and masks [T]");
  row_score out;
  int64_t first = -1, last = -1;
  for (int64_t t = 0; t < T; ++t)
    if (row.lm[static_cast<size_t>(t)] || row.answer[static_cast<size_t>(t)]) {
      if (first < 0) first = t;
      last = t;
    }
  if (first < 0) return out;  // nothing to score
  auto s = session::create(m);
  if (!s) return s.error_status();
  session& ses = **s;
  const std::span<const int32_t> toks(row.tokens);
  // score_params::pointer: the prefix up to the symbol's first row, then its rows with the pointer
  // read at each (tome::pointer_attention, as `tome ask --choose-path` answers).
  const auto prow = p.pointer && m->has_tokenizer() && !m->config().pointer_heads.empty() &&
                            m->config().special_id("file_start") >= 0
                        ? pointer_rows(*m, row)
                        : std::nullopt;
  int64_t done = 0;
  if (prow && prow->last + 1 <= first) {
    prefill_params pp;
    pp.chunk_tokens = p.prefill_chunk;
    pp.compute_logits = false;
    pp.on_progress = p.on_prefill;
    auto pr = ses.prefill(toks.first(static_cast<size_t>(prow->question)), pp);
    if (!pr) return pr.error_status();
    const auto q = toks.subspan(static_cast<size_t>(prow->question), static_cast<size_t>(first - prow->question));
    auto mass = pointer_attention(ses, q, {static_cast<size_t>(prow->first - prow->question),
                                           static_cast<size_t>(prow->last - prow->question)});
    if (!mass) return mass.error_status();
    done = prow->last + 1;
    TOME_TRY(read_pointer(*m, row, prow->question, q, *mass, out));
  }
  if (first > done) {  // the early exit: inputs 0..first-1 need no logits
    prefill_params pp;
    pp.chunk_tokens = p.prefill_chunk;
    pp.compute_logits = false;
    pp.on_progress = p.on_prefill;
    auto pr = ses.prefill(toks.subspan(static_cast<size_t>(done), static_cast<size_t>(first - done)), pp);
    if (!pr) return pr.error_status();
  }
  out.prefilled = first;
  if (p.choose_paths) TOME_TRY(choose_path(ses, row, first, p, out));
  const int64_t V = m->config().vocab_size;
  const int64_t piece = std::max<int64_t>(1, p.logits_chunk);
  std::vector<float> logits;
  bool exact = true, exact_text = true;
  double answer_ce = 0;
  for (int64_t a = first; a <= last; a += piece) {
    const int64_t b = std::min(last + 1, a + piece);  // inputs a..b-1 -> targets a+1..b
    TOME_TRY(
        ses.logits_for(toks.subspan(static_cast<size_t>(a), static_cast<size_t>(b - a)), logits));
    out.scored += b - a;
    for (int64_t t = a; t < b; ++t) {
      const size_t ut = static_cast<size_t>(t);
      if (!row.lm[ut] && !row.answer[ut]) continue;
      const int32_t target = row.tokens[ut + 1];
      double nll;
      bool ok;
      score_position(logits.data() + (t - a) * V, V, target, nll, ok);
      if (row.lm[ut]) {
        out.ce += nll;
        ++out.n;
      }
      if (row.answer[ut]) {
        answer_ce += nll;
        ++out.answer_n;
        exact = exact && ok;
        if (target != p.eos) exact_text = exact_text && ok;
      }
    }
  }
  if (out.answer_n > 0) {
    out.exact = exact;
    out.exact_text = exact_text;
    out.answer_ce = answer_ce;
  }
  return out;
}

std::string score_json(int64_t index, const row_score& s, double seconds) {
  std::string j = "{\"row\": " + std::to_string(index) + ", \"ce\": " + fmt_double(s.ce) +
                  ", \"n\": " + std::to_string(s.n) + ", \"exact\": " + fmt_opt(s.exact) +
                  ", \"exact_text\": " + fmt_opt(s.exact_text) + ", \"answer_ce\": " +
                  (s.answer_ce ? fmt_double(*s.answer_ce) : std::string("null")) +
                  ", \"answer_n\": " + std::to_string(s.answer_n) +
                  ", \"prefilled\": " + std::to_string(s.prefilled) +
                  ", \"scored\": " + std::to_string(s.scored) +
                  ", \"choice_exact\": " + fmt_opt(s.choice_exact) +
                  ", \"choice\": " +
                  nlohmann::json(s.choice).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                  ", \"choices\": " + std::to_string(s.choices) +
                  ", \"choice_steps\": " + std::to_string(s.choice_steps);
  if (!s.path_logprobs.empty()) {
    nlohmann::json lp = nlohmann::json::object();
    for (const auto& [path, v] : s.path_logprobs) lp[path] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
    j += ", \"path_logprobs\": " + lp.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (s.pointer_exact) {
    nlohmann::json pm = nlohmann::json::object();
    for (const auto& [path, v] : s.pointer_mass) pm[path] = v;
    j += ", \"pointer_exact\": " + fmt_opt(s.pointer_exact) + ", \"pointer_choice\": " +
         nlohmann::json(s.pointer_choice).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         ", \"pointer_mass\": " + pm.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    nlohmann::json po = nlohmann::json::object();
    for (const auto& [path, n] : s.pointer_occurrences) po[path] = n;
    j += ", \"pointer_top_exact\": " + fmt_opt(s.pointer_top_exact) + ", \"pointer_top\": " +
         nlohmann::json(s.pointer_top).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         ", \"pointer_occurrences\": " + po.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, ", \"seconds\": %.3f}", seconds);
  return j + buf;
}

}  // namespace tome::cli
