// tome::choose (tome/choose.h): uniform-cost search over the candidates' prefix tree.
//
// Node costs are -log p of the node's tokens after the session's tokens. A node is "expanded" by
// bringing the session to its parent's prefix and decoding its token, which gives the logits of
// its children. The session's global KV holds one branch at a time, so a mark is usable only
// while its node lies on the current branch (rewind refuses others); returning to a prefix off the
// current branch rewinds to the deepest usable mark and prefills the missing tokens
// (self-decoder only: no logits are needed for them).
#include "tome/choose.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <queue>
#include <unordered_map>
#include <unordered_set>

namespace tome {
namespace {

struct node {
  int32_t token = -1;   // the token leading here from the parent (-1: the root)
  int32_t parent = -1;
  int32_t depth = 0;    // tokens after the session's position
  int64_t candidate = -1;  // >= 0: a terminal node (`end` after a whole candidate)
  std::vector<int32_t> kids;
  int32_t pending = 0;  // non-terminal kids not expanded yet
  double cost = 0;      // -log p(tokens up to and including this node's)
  double bound = 0;     // prior_weight * the least (clamped) prior of the candidates below
  session_mark mark;    // the session right after this node's token, when kept
};

// log(sum(exp(logits))) in double.
double log_sum_exp(std::span<const float> logits) {
  double mx = -INFINITY;
  for (float x : logits) mx = std::max(mx, static_cast<double>(x));
  if (!std::isfinite(mx)) return mx;
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - mx);
  return mx + std::log(sum);
}

class searcher {
 public:
  searcher(session& s, const choose_params& p) : s_(s), p_(p) {}

  status build(std::span<const std::vector<int32_t>> candidates, int32_t end) {
    const auto& cfg = s_.get_model().config();
    const int64_t V = cfg.vocab_size;
    if (candidates.empty()) return error("choose: no candidates");
    if (end < 0 || end >= V)
      return error("choose: end token " + std::to_string(end) + " is outside the vocabulary (" +
                   std::to_string(V) + ")");
    size_t longest = 0;
    for (const auto& c : candidates) longest = std::max(longest, c.size());
    if (s_.n_tokens() + static_cast<int64_t>(longest) > cfg.max_context)
      return error("choose: the longest candidate (" + std::to_string(longest) +
                   " tokens) does not fit in the context after " + std::to_string(s_.n_tokens()) +
                   " tokens (the model's maximum is " + std::to_string(cfg.max_context) + ")");
    nodes_.emplace_back();  // the root
    for (size_t i = 0; i < candidates.size(); ++i) {
      int32_t n = 0;
      for (int32_t t : candidates[i]) {
        if (t < 0 || t >= V)
          return error("choose: candidate " + std::to_string(i) + " has token " + std::to_string(t) +
                       " outside the vocabulary (" + std::to_string(V) + ")");
        if (t == end)
          return error("choose: candidate " + std::to_string(i) + " contains the end token");
        n = child(n, t);
      }
      const int32_t leaf = child(n, end);
      if (nodes_[static_cast<size_t>(leaf)].candidate < 0)
        nodes_[static_cast<size_t>(leaf)].candidate = static_cast<int64_t>(i);
      leaf_of_.push_back(leaf);
    }
    if (!p_.prior.empty()) {
      if (p_.prior.size() != candidates.size())
        return error("choose: " + std::to_string(p_.prior.size()) + " prior values for " +
                     std::to_string(candidates.size()) + " candidates");
      if (!std::isfinite(p_.prior_weight) || p_.prior_weight < 0)
        return error("choose: the prior weight must be finite and >= 0");
      for (auto& n : nodes_) n.bound = INFINITY;
      for (size_t i = 0; i < leaf_of_.size(); ++i) {
        double v = p_.prior[i];
        v = std::isnan(v) ? 0.0 : std::clamp(v, -1e4, 0.0);
        node& leaf = nodes_[static_cast<size_t>(leaf_of_[i])];
        if (leaf.candidate == static_cast<int64_t>(i)) leaf.bound = p_.prior_weight * v;  // first copy
      }
      // Kids are created after their parents: one pass from the last node back sets every bound.
      for (size_t id = nodes_.size(); id-- > 1;) {
        node& n = nodes_[id];
        node& up = nodes_[static_cast<size_t>(n.parent)];
        up.bound = std::min(up.bound, n.bound);
      }
    }
    return {};
  }

  result<choose_result> run() {
    auto root = s_.mark();
    if (!root) return root.error_status();
    nodes_[0].mark = *root;
    struct back_to_root {  // the session ends where it began, whatever happens
      session& s;
      const session_mark& m;
      ~back_to_root() { (void)s.rewind(m); }
    } guard{s_, nodes_[0].mark};
    auto lg = s_.logits();
    if (!lg) return lg.error_status();
    push_kids(0, *lg);
    int32_t best = -1;  // score_all: the first terminal taken, the most likely candidate
    while (!frontier_.empty()) {
      if (p_.cancel && p_.cancel->load()) return error("cancelled");
      const int32_t id = frontier_.top().second;
      frontier_.pop();
      if (nodes_[static_cast<size_t>(id)].candidate >= 0) {
        if (!p_.score_all) return finish(id, true);
        if (best < 0) best = id;
        continue;
      }
      if (steps_ >= std::max<int64_t>(0, p_.max_steps)) {
        if (p_.score_all)
          return error("choose: scoring every candidate needs more than max_steps (" +
                       std::to_string(p_.max_steps) + ") decode steps");
        return greedy_from(id);
      }
      TOME_TRY(expand(id));
    }
    if (best >= 0) {  // score_all: every terminal's cost is final now
      auto r = finish(best, true);
      if (!r) return r;
      r->logprobs.reserve(leaf_of_.size());
      for (int32_t leaf : leaf_of_) r->logprobs.push_back(-nodes_[static_cast<size_t>(leaf)].cost);
      return r;
    }
    return error("choose: the search ended without a candidate");  // not reached: leaves exist
  }

 private:
  int32_t child(int32_t parent, int32_t token) {
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(parent)) << 32) |
                         static_cast<uint32_t>(token);
    auto it = index_.find(key);
    if (it != index_.end()) return it->second;
    const int32_t id = static_cast<int32_t>(nodes_.size());
    node n;
    n.token = token;
    n.parent = parent;
    n.depth = nodes_[static_cast<size_t>(parent)].depth + 1;
    nodes_.push_back(std::move(n));
    nodes_[static_cast<size_t>(parent)].kids.push_back(id);
    index_.emplace(key, id);
    return id;
  }

  bool terminal(int32_t id) const { return nodes_[static_cast<size_t>(id)].candidate >= 0; }

  // The search's order: the cost plus the prior's bound (the bound is 0 without a prior).
  double key(int32_t id) const {
    const node& n = nodes_[static_cast<size_t>(id)];
    return n.cost + n.bound;
  }

  // Costs of the kids of `id` from the logits after `id`'s prefix: cost(parent) - log p(kid's token).
  void score_kids(int32_t id, std::span<const float> logits) {
    const double lse = log_sum_exp(logits);
    const node& n = nodes_[static_cast<size_t>(id)];
    for (int32_t k : n.kids) {
      node& c = nodes_[static_cast<size_t>(k)];
      c.cost = n.cost - (static_cast<double>(logits[static_cast<size_t>(c.token)]) - lse);
      if (!std::isfinite(c.cost)) c.cost = INFINITY;  // -inf logits or a non-finite row
    }
  }

  // The kids of `id` enter the frontier with their costs.
  void push_kids(int32_t id, std::span<const float> logits) {
    score_kids(id, logits);
    node& n = nodes_[static_cast<size_t>(id)];
    n.pending = 0;
    for (int32_t k : n.kids) {
      if (!terminal(k)) ++n.pending;
      frontier_.emplace(key(k), k);
    }
  }

  // Keeps a mark of the current node before the session leaves it, if a kid of it may still need
  // its state (`into`: the kid about to be decoded from here, which does not count).
  status keep_current(int32_t into) {
    node& n = nodes_[static_cast<size_t>(cur_)];
    const bool moving_into_kid = into >= 0 && nodes_[static_cast<size_t>(into)].parent == cur_;
    if (n.mark.valid() || n.pending <= (moving_into_kid ? 1 : 0)) return {};
    if (mark_bytes_ >= p_.max_mark_bytes) return {};
    auto m = s_.mark();
    if (!m) return m.error_status();
    mark_bytes_ += m->bytes();
    n.mark = *m;
    return {};
  }

  // Brings the session to node `target`'s prefix (its token included).
  status go_to(int32_t target) {
    if (target == cur_) return {};
    // The current branch, root to cur_.
    std::vector<char> on_branch(nodes_.size(), 0);
    for (int32_t a = cur_; a >= 0; a = nodes_[static_cast<size_t>(a)].parent)
      on_branch[static_cast<size_t>(a)] = 1;
    // The target's branch down from its deepest node on the current branch (the common one).
    std::vector<int32_t> path;  // target, parent, ... (excluding the common node)
    int32_t common = target;
    while (!on_branch[static_cast<size_t>(common)]) {
      path.push_back(common);
      common = nodes_[static_cast<size_t>(common)].parent;
    }
    int32_t from = common;
    if (common != cur_) {
      // Marks on the branch from the root to `common` are usable; take the deepest.
      while (!nodes_[static_cast<size_t>(from)].mark.valid())
        path.push_back(from), from = nodes_[static_cast<size_t>(from)].parent;
      TOME_TRY(s_.rewind(nodes_[static_cast<size_t>(from)].mark));
    }
    std::reverse(path.begin(), path.end());
    std::vector<int32_t> tokens;
    for (int32_t a : path) tokens.push_back(nodes_[static_cast<size_t>(a)].token);
    cur_ = from;
    if (!tokens.empty()) {
      prefill_params pp;
      pp.compute_logits = false;
      auto r = s_.prefill(tokens, pp);
      if (!r) return r.error_status();
      replayed_ += static_cast<int64_t>(tokens.size());
      cur_ = target;
    }
    return {};
  }

  // Decodes node `id`'s token after its parent's prefix: the session ends at `id`.
  result<std::span<const float>> step_into(int32_t id) {
    const int32_t parent = nodes_[static_cast<size_t>(id)].parent;
    TOME_TRY(keep_current(id));
    TOME_TRY(go_to(parent));
    auto lg = s_.decode(nodes_[static_cast<size_t>(id)].token);
    if (!lg) return lg.error_status();
    ++steps_;
    cur_ = id;
    --nodes_[static_cast<size_t>(parent)].pending;
    return *lg;
  }

  status expand(int32_t id) {
    auto lg = step_into(id);
    if (!lg) return lg.error_status();
    push_kids(id, *lg);
    return {};
  }

  // max_steps ran out with `id` the cheapest prefix: follow its most likely kids to a candidate.
  result<choose_result> greedy_from(int32_t id) {
    while (!terminal(id)) {
      if (p_.cancel && p_.cancel->load()) return error("cancelled");
      auto lg = step_into(id);
      if (!lg) return lg.error_status();
      score_kids(id, *lg);
      int32_t best = -1;
      for (int32_t k : nodes_[static_cast<size_t>(id)].kids)
        if (best < 0 || key(k) < key(best)) best = k;
      id = best;
    }
    return finish(id, false);
  }

  result<choose_result> finish(int32_t id, bool proven) const {
    const node& n = nodes_[static_cast<size_t>(id)];
    choose_result r;
    r.index = static_cast<size_t>(n.candidate);
    r.logprob = -n.cost;
    r.score = -(n.cost + n.bound);
    r.proven = proven;
    r.steps = steps_;
    r.replayed = replayed_;
    return r;
  }

  session& s_;
  const choose_params& p_;
  std::vector<node> nodes_;
  std::unordered_map<uint64_t, int32_t> index_;
  std::vector<int32_t> leaf_of_;  // candidate -> its terminal node
  using entry = std::pair<double, int32_t>;  // (key, node): cheapest first, then the lower id
  std::priority_queue<entry, std::vector<entry>, std::greater<entry>> frontier_;
  int32_t cur_ = 0;
  int64_t steps_ = 0, replayed_ = 0, mark_bytes_ = 0;
};

}  // namespace

namespace {
// The path of the header whose file_start token is tokens[i]: the text up to its line's end;
// none when the line does not end within 1024 bytes, is cut by a special token or by the end.
std::optional<std::string> header_path(const tokenizer& tok, std::span<const int32_t> tokens, size_t i) {
  constexpr size_t kMaxHeader = 1024;
  std::string text;
  for (size_t j = i + 1; j < tokens.size() && text.size() <= kMaxHeader; ++j) {
    if (tok.is_special(tokens[j])) break;
    text += tok.token_bytes(tokens[j]);
    const size_t nl = text.find('\n');
    if (nl != std::string::npos) {
      text.resize(nl);
      if (text.empty() || text.size() > kMaxHeader) return std::nullopt;
      return text;
    }
  }
  return std::nullopt;
}
}  // namespace

std::vector<std::string> file_paths(const tokenizer& tok, std::span<const int32_t> tokens,
                                    int32_t file_start) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] != file_start) continue;
    if (auto path = header_path(tok, tokens, i); path && seen.insert(*path).second) out.push_back(std::move(*path));
  }
  return out;
}

std::vector<file_span> file_spans(const tokenizer& tok, std::span<const int32_t> tokens, int32_t file_start,
                                  int32_t stop, int64_t limit) {
  std::vector<file_span> out;
  const size_t n = static_cast<size_t>(std::clamp<int64_t>(limit, 0, static_cast<int64_t>(tokens.size())));
  for (size_t i = 0; i < n; ++i) {
    if (tokens[i] != file_start) continue;
    auto path = header_path(tok, tokens, i);
    if (!path) continue;
    size_t e = i + 1;
    while (e < n && tokens[e] != file_start && tokens[e] != stop) ++e;
    out.push_back({std::move(*path), static_cast<int64_t>(i), static_cast<int64_t>(e)});
  }
  return out;
}

std::vector<double> pointer_mass(std::span<const float> mass, std::span<const file_span> spans,
                                 std::span<const std::string> paths) {
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < paths.size(); ++i) index.emplace(paths[i], i);
  std::vector<double> out(paths.size(), 0.0);
  const int64_t n = static_cast<int64_t>(mass.size());
  for (const file_span& sp : spans) {
    auto it = index.find(sp.path);
    if (it == index.end()) continue;
    for (int64_t j = std::max<int64_t>(sp.begin, 0); j < std::min(sp.end, n); ++j)
      out[it->second] += mass[static_cast<size_t>(j)];
  }
  return out;
}

std::optional<std::pair<size_t, size_t>> symbol_tokens(const tokenizer& tok, std::span<const int32_t> question) {
  std::vector<std::string> text(question.size());
  for (size_t i = 0; i < question.size(); ++i)
    if (!tok.is_special(question[i])) text[i] = tok.token_bytes(question[i]);
  // The backticks, by token: the closing one is the last; the opening one the one before it (or
  // the same token when it holds both).
  std::vector<std::pair<size_t, size_t>> ticks;  // (token, byte offset)
  for (size_t i = 0; i < text.size(); ++i)
    for (size_t b = 0; b < text[i].size(); ++b)
      if (text[i][b] == '`') ticks.emplace_back(i, b);
  auto is_word = [](const std::string& t) {
    return std::any_of(t.begin(), t.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return std::isalnum(u) || c == '_' || u >= 0x80;
    });
  };
  if (ticks.size() >= 2) {
    const auto [ci, cb] = ticks.back();
    const auto [oi, ob] = ticks[ticks.size() - 2];
    // The symbol: bytes after the opening backtick up to the closing one.
    if (oi == ci) {
      if (cb == ob + 1) return std::nullopt;  // ``
      return std::pair{ci, ci};
    }
    const bool opening_ends = ob + 1 == text[oi].size();
    const size_t first = opening_ends ? oi + 1 : oi;
    if (cb > 0) return std::pair{first, ci};  // the symbol's end is merged into the closing backtick's token
    if (ci == oi + 1 && opening_ends) return std::nullopt;  // `` across two tokens
    return std::pair{first, ci - 1};
  }
  for (size_t i = text.size(); i-- > 0;)
    if (is_word(text[i])) return std::pair{i, i};
  return std::nullopt;
}

result<std::vector<float>> pointer_attention(session& s, std::span<const int32_t> question,
                                             std::pair<size_t, size_t> rows, const std::atomic<bool>* cancel) {
  const auto& heads = s.get_model().config().pointer_heads;
  if (heads.empty()) return error("the model names no pointer heads (config.json \"pointer_heads\")");
  if (rows.first > rows.second || rows.second >= question.size()) return error("pointer_attention: bad rows");
  const size_t context = static_cast<size_t>(s.n_tokens());
  std::vector<float> mean(context, 0.0f);
  const float share = 1.0f / static_cast<float>(rows.second - rows.first + 1);
  size_t done = 0;
  for (size_t r = rows.first; r <= rows.second; ++r) {
    prefill_params pp;
    pp.compute_logits = false;
    pp.cancel = cancel;
    auto pr = s.prefill(question.subspan(done, r + 1 - done), pp);
    if (!pr) return pr.error_status();
    if (pr->cancelled) return error("cancelled");
    done = r + 1;
    auto mass = s.attention_mass(heads);
    if (!mass) return mass.error_status();
    for (size_t j = 0; j < context; ++j) mean[j] += share * (*mass)[j];
  }
  return mean;
}

namespace {
bool ident_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_';
}
}  // namespace

std::optional<std::string> symbol_name(const tokenizer& tok, std::span<const int32_t> question) {
  std::string text;
  for (int32_t id : question)
    text += tok.is_special(id) ? std::string(1, '\n') : tok.token_bytes(id);
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  const size_t close = text.rfind('`');
  if (close != std::string::npos && close > 0) {
    const size_t open = text.rfind('`', close - 1);
    if (open != std::string::npos) {
      size_t b = open + 1, e = close;
      while (b < e && is_space(text[b])) ++b;
      while (e > b && is_space(text[e - 1])) --e;
      if (b == e) return std::nullopt;
      return text.substr(b, e - b);
    }
  }
  auto word = [](char c) { return ident_byte(c) || static_cast<unsigned char>(c) >= 0x80; };
  size_t e = text.size();
  while (e > 0 && !word(text[e - 1])) --e;
  size_t b = e;
  while (b > 0 && word(text[b - 1])) --b;
  if (b == e) return std::nullopt;
  return text.substr(b, e - b);
}

std::vector<int64_t> symbol_occurrences(const tokenizer& tok, std::span<const int32_t> tokens,
                                        std::span<const file_span> spans, std::span<const std::string> paths,
                                        std::string_view name) {
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < paths.size(); ++i) index.emplace(paths[i], i);
  std::vector<int64_t> out(paths.size(), 0);
  if (name.empty()) return out;
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::string text;
  for (const file_span& sp : spans) {
    auto it = index.find(sp.path);
    if (it == index.end()) continue;
    text.clear();
    // The span's text after its header token; a special token inside it separates words.
    for (int64_t j = std::max<int64_t>(sp.begin + 1, 0); j < std::min(sp.end, n); ++j) {
      const int32_t id = tokens[static_cast<size_t>(j)];
      text += tok.is_special(id) ? std::string(1, '\n') : tok.token_bytes(id);
    }
    const size_t nl = text.find('\n');  // the header line (the path) is not the file's text
    const std::string_view body = nl == std::string::npos ? std::string_view() : std::string_view(text).substr(nl + 1);
    for (size_t at = body.find(name); at != std::string_view::npos; at = body.find(name, at + 1)) {
      const bool before = at > 0 && ident_byte(body[at - 1]);
      const bool after = at + name.size() < body.size() && ident_byte(body[at + name.size()]);
      if (!before && !after) ++out[it->second];
    }
  }
  return out;
}

size_t pointer_choice(std::span<const double> mass, std::span<const int64_t> occurrences) {
  size_t best = 0;
  bool held = false;
  for (size_t i = 0; i < mass.size(); ++i) {
    const bool h = i < occurrences.size() && occurrences[i] > 0;
    if ((h && !held) || (h == held && mass[i] > mass[best])) best = i;
    held = held || h;
  }
  return best;
}

std::optional<size_t> symbol_end(const tokenizer& tok, std::span<const int32_t> question) {
  const auto t = symbol_tokens(tok, question);
  if (!t) return std::nullopt;
  return t->second;
}

result<choose_result> choose(session& s, std::span<const std::vector<int32_t>> candidates,
                             int32_t end, const choose_params& p) {
  searcher sr(s, p);
  TOME_TRY(sr.build(candidates, end));
  return sr.run();
}

}  // namespace tome
