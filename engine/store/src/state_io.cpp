// Reading and writing session states in the store: KV rows (tokens + encoded K/V + checksum per
// row of row_tokens tokens), self-decoder state blobs, checkpointed prefill, save, load, verify.
// A commit rewrites the node's partial last row and appends new rows in one transaction, so the
// file always holds the last committed state whole (the thread rule: a node's rows start at its
// base; tokens below come from its parent).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "library_impl.h"

namespace tome::store {
namespace {

using clock_type = std::chrono::steady_clock;

std::span<const uint8_t> as_bytes(const void* p, size_t n) {
  return {static_cast<const uint8_t*>(p), n};
}

}  // namespace

status library::impl::read_chain(const session_row& s, const node_row& n, bool with_kv,
                                 bool own_only, node_state& out) const {
  std::vector<row_ref> rows;
  TOME_TRY(list_rows(s, n, own_only, rows, out.tokens));
  if (!with_kv) return {};
  const std::string where = d->path().string() + ": session '" + s.name + "'" +
                            (n.name.empty() ? "" : " thread '" + n.name + "'");
  const size_t kvd = static_cast<size_t>(s.kv_dim);
  out.k.assign(out.tokens.size() * kvd, 0.0f);
  out.v.assign(out.k.size(), 0.0f);
  // Rows land in disjoint parts of out.k / out.v, from several threads.
  return read_kv_rows(
      s, rows, kv_wire::f32,
      [&](const row_ref& r, kv_wire w, const void* k, const void* v) -> status {
        if (w != kv_wire::f32) return error("unexpected KV wire");
        const size_t len = static_cast<size_t>(r.use) * kvd * 4;
        std::memcpy(out.k.data() + static_cast<size_t>(r.dst) * kvd, k, len);
        std::memcpy(out.v.data() + static_cast<size_t>(r.dst) * kvd, v, len);
        return {};
      },
      where);
}

status library::impl::read_state_blob(const session_row& s, const node_row& n,
                                      node_state& out) const {
  const std::string where = d->path().string() + ": session '" + s.name + "'" +
                            (n.name.empty() ? "" : " thread '" + n.name + "'");
  auto st = d->prepare("SELECT state, state_checksum FROM nodes WHERE id = ?");
  if (!st) return st.error_status();
  st->bind(1, n.id);
  auto r = st->step();
  if (!r) return r.error_status();
  if (!*r) return error(where + ": its state is missing");
  const auto stored = st->blob(0);
  if (state_checksum(n.n_tokens, n.self_rows, stored) != st->int64(1))
    return error(where + ": the self-decoder state fails its checksum (the file is corrupt)");
  const int64_t raw_bytes = n.state_raw_bytes;
  const int64_t per_layer = raw_bytes / 4 - s.dim;
  if (raw_bytes < 0 || raw_bytes % 4 != 0 || per_layer < 0 || per_layer % s.n_self_layers != 0 ||
      raw_bytes > (int64_t{1} << 36))
    return error(where + ": the self-decoder state has an invalid size");
  std::vector<uint8_t> raw;
  status ds = decompress_bytes(stored, s.comp, static_cast<size_t>(raw_bytes), raw);
  if (!ds.ok()) return error(where + ": the self-decoder state: " + ds.message());
  const size_t lf = static_cast<size_t>(per_layer / s.n_self_layers);
  out.self_state.assign(static_cast<size_t>(s.n_self_layers), std::vector<float>(lf));
  size_t off = 0;
  for (auto& layer : out.self_state) {
    if (lf > 0) std::memcpy(layer.data(), raw.data() + off, lf * 4);  // SWA at 0 tokens: empty
    off += lf * 4;
  }
  out.last_hidden.resize(static_cast<size_t>(s.dim));
  std::memcpy(out.last_hidden.data(), raw.data() + off, static_cast<size_t>(s.dim) * 4);
  return {};
}

status library::impl::commit(const session_row& srow, node_row& n, const tome::session& s,
                             bool check_prefix) {
  const std::string where = d->path().string() + ": session '" + srow.name + "'" +
                            (n.name.empty() ? "" : " thread '" + n.name + "'");
  TOME_TRY(check_model(srow, s.get_model()));
  const int64_t committed = n.n_tokens, total = s.n_tokens();
  if (total < committed)
    return error(where + ": the session holds " + std::to_string(total) +
                 " tokens, fewer than the " + std::to_string(committed) + " saved");
  if (check_prefix) {
    node_state saved;
    TOME_TRY(read_chain(srow, n, false, false, saved));
    const auto& toks = s.tokens();
    for (int64_t i = 0; i < committed; ++i)
      if (saved.tokens[static_cast<size_t>(i)] != toks[static_cast<size_t>(i)])
        return error(where +
                     ": the session does not continue the saved tokens (they differ at token " +
                     std::to_string(i) + ")");
  }
  if (total == committed) return {};
  const int64_t R = srow.row_tokens;
  const int64_t row_begin = n.base_tokens + (committed - n.base_tokens) / R * R;
  // The self-decoder state only: rows are copied out of the session row by row below.
  auto parts = export_session_parts(s, total, total);
  if (!parts) return parts.error_status().with_context(where);
  std::vector<uint8_t> raw;
  for (const auto& layer : parts->self_state) {
    if (layer.empty()) continue;  // SWA at 0 tokens
    const auto b = as_bytes(layer.data(), layer.size() * 4);
    raw.insert(raw.end(), b.begin(), b.end());
  }
  std::vector<float> hidden = parts->last_hidden;
  hidden.resize(static_cast<size_t>(srow.dim), 0.0f);
  const auto hb = as_bytes(hidden.data(), hidden.size() * 4);
  raw.insert(raw.end(), hb.begin(), hb.end());
  const std::vector<uint8_t> state = compress_bytes(raw, srow.comp);

  transaction t(*d);
  TOME_TRY(t.begin());
  auto del = d->prepare("DELETE FROM kv_rows WHERE node_id = ? AND token_begin >= ?");
  if (!del) return del.error_status();
  del->bind(1, n.id).bind(2, row_begin);
  TOME_TRY(del->run());
  // The small writes (the node's state, its checkpoint, the session) go before the rows: pages
  // they touch (among them the pointer-map entries of the old state's pages) are then not touched
  // again after SQLite's page cache may have spilled them to the WAL mid-transaction. A page
  // spilled and changed again is rewritten in place in the WAL, and at commit SQLite re-reads and
  // re-checksums every frame after it (walRewriteChecksums): up to the whole save a second time.
  auto up = d->prepare(
      std::string("UPDATE nodes SET n_tokens = ?, self_rows = ?, state_raw_bytes = ?, state = ?, "
                  "state_checksum = ?, updated_at = ") +
      k_now_sql + " WHERE id = ?");
  if (!up) return up.error_status();
  up->bind(1, total).bind(2, parts->self_rows).bind(3, static_cast<int64_t>(raw.size()));
  up->bind_blob(4, state).bind(5, state_checksum(total, parts->self_rows, state)).bind(6, n.id);
  TOME_TRY(up->run().with_context("saving the self-decoder state"));
  if (!n.parent) {  // the document state: keep this checkpoint's state for rewinding (rewind())
    auto cp = d->prepare(
        std::string("INSERT OR REPLACE INTO checkpoints(node_id, n_tokens, self_rows, "
                    "state_raw_bytes, state, state_checksum, created_at) VALUES(?,?,?,?,?,?,") +
        k_now_sql + ")");
    if (!cp) return cp.error_status();
    cp->bind(1, n.id).bind(2, total).bind(3, parts->self_rows).bind(4, static_cast<int64_t>(raw.size()));
    cp->bind_blob(5, state).bind(6, state_checksum(total, parts->self_rows, state));
    TOME_TRY(cp->run().with_context("saving the checkpoint"));
  }
  auto us =
      d->prepare(std::string("UPDATE sessions SET updated_at = ") + k_now_sql +
                 (n.parent ? "" : ", target_tokens = max(target_tokens, ?2)") + " WHERE id = ?1");
  if (!us) return us.error_status();
  us->bind(1, srow.id);
  if (!n.parent) us->bind(2, total);
  TOME_TRY(us->run());
  auto ins = d->prepare(
      "INSERT INTO kv_rows(node_id, token_begin, n_tokens, checksum, stored_bytes, tokens, kv) "
      "VALUES(?, ?, ?, ?, ?, ?, ?)");
  if (!ins) return ins.error_status();
  TOME_TRY(write_kv_rows(srow, n, s, row_begin, total, *ins));
  // Durable here (the WAL is synced at commit); copying it into the database file follows in
  // the background (the wal hook in library.cpp), not on this call's time.
  TOME_TRY(t.commit());
  n.n_tokens = total;
  n.self_rows = parts->self_rows;
  n.state_raw_bytes = static_cast<int64_t>(raw.size());
  return {};
}

result<int64_t> library::rewind(std::string_view session, int64_t n_tokens) {
  auto s = impl_->get_session(session);
  if (!s) return s.error_status();
  auto root = impl_->get_node(*s, "");
  if (!root) return root.error_status();
  db& d = *impl_->d;
  const std::string where = d.path().string() + ": session '" + s->name + "'";
  if (n_tokens < 0) return error(where + ": cannot rewind to a negative token count");
  if (n_tokens >= root->n_tokens) return root->n_tokens;  // everything committed is kept
  // The checkpoint: its state (checked), or the all-zero state of an empty session.
  int64_t c = 0, self_rows = 0;
  std::vector<uint8_t> state;
  {
    auto cp = d.prepare(
        "SELECT n_tokens, self_rows, state_raw_bytes, state, state_checksum FROM checkpoints "
        "WHERE node_id = ? AND n_tokens <= ? AND n_tokens > 0 ORDER BY n_tokens DESC LIMIT 1");
    if (!cp) return cp.error_status();
    cp->bind(1, root->id).bind(2, n_tokens);
    auto r = cp->step();
    if (!r) return r.error_status();
    int64_t raw_bytes = 0;
    if (*r) {
      c = cp->int64(0);
      self_rows = cp->int64(1);
      raw_bytes = cp->int64(2);
      const auto b = cp->blob(3);
      state.assign(b.begin(), b.end());
      if (state_checksum(c, self_rows, state) != cp->int64(4))
        return error(where + ": the checkpoint at token " + std::to_string(c) +
                     " fails its checksum (the file is corrupt)");
      std::vector<uint8_t> raw;  // sizes and decompression checked before anything is changed
      if (raw_bytes < 0 || raw_bytes > (int64_t{1} << 36) ||
          !decompress_bytes(state, s->comp, static_cast<size_t>(raw_bytes), raw).ok())
        return error(where + ": the checkpoint at token " + std::to_string(c) + " is damaged");
    } else {
      // The all-zero state of an empty session: gated retention keeps its full matrices (zeros,
      // the size of the stored ones), a sliding window holds no rows.
      size_t lf = 0;
      if (s->self_kind == static_cast<int64_t>(self_decoder_kind::gated_retention)) {
        node_state cur;
        TOME_TRY(impl_->read_state_blob(*s, *root, cur));
        lf = cur.self_state.empty() ? 0 : cur.self_state[0].size();
      }
      std::vector<uint8_t> raw(static_cast<size_t>((s->n_self_layers * static_cast<int64_t>(lf) + s->dim) * 4), 0);
      state = compress_bytes(raw, s->comp);
      raw_bytes = static_cast<int64_t>(raw.size());
    }
    root->state_raw_bytes = raw_bytes;
  }
  transaction t(d);
  TOME_TRY(t.begin());
  // Threads that branch after the checkpoint answered about the old text: removed.
  for (const char* sql :
       {"DELETE FROM kv_rows WHERE node_id IN (SELECT id FROM nodes WHERE session_id = ?1 AND "
        "parent_id IS NOT NULL AND base_tokens > ?2)",
        "DELETE FROM nodes WHERE session_id = ?1 AND parent_id IS NOT NULL AND base_tokens > ?2",
        "DELETE FROM documents WHERE session_id = ?1 AND token_begin >= ?2",
        "DELETE FROM derived WHERE session_id = ?1 AND n_tokens > ?2"}) {
    auto st = d.prepare(sql);
    if (!st) return st.error_status();
    st->bind(1, s->id).bind(2, c);
    TOME_TRY(st->run());
  }
  for (const char* sql : {"DELETE FROM kv_rows WHERE node_id = ?1 AND token_begin >= ?2",
                          "DELETE FROM checkpoints WHERE node_id = ?1 AND n_tokens > ?2"}) {
    auto st = d.prepare(sql);
    if (!st) return st.error_status();
    st->bind(1, root->id).bind(2, c);
    TOME_TRY(st->run());
  }
  // The row the checkpoint cuts keeps its first c - token_begin tokens.
  {
    auto cut = d.prepare(
        "SELECT token_begin, n_tokens, checksum, tokens, kv FROM kv_rows WHERE node_id = ? AND "
        "token_begin < ? AND token_begin + n_tokens > ?");
    if (!cut) return cut.error_status();
    cut->bind(1, root->id).bind(2, c).bind(3, c);
    auto r = cut->step();
    if (!r) return r.error_status();
    if (*r) {
      const int64_t tb = cut->int64(0), cnt = cut->int64(1), kvd = s->kv_dim;
      const auto tok = cut->blob(3), kv = cut->blob(4);
      if (cnt < 1 || cnt > s->row_tokens || tok.size() != static_cast<size_t>(cnt) * 4 ||
          row_checksum(tb, cnt, s->storage, s->comp, tok, kv) != cut->int64(2))
        return error(where + ": the KV row at token " + std::to_string(tb) + " is damaged");
      std::vector<float> k(static_cast<size_t>(cnt * kvd)), v(k.size());
      TOME_TRY(decode_kv(kv, cnt, kvd, s->storage, s->comp, k, v).with_context(where));
      const int64_t keep = c - tb;
      const std::vector<uint8_t> nkv =
          encode_kv(std::span<const float>(k).first(static_cast<size_t>(keep * kvd)),
                    std::span<const float>(v).first(static_cast<size_t>(keep * kvd)), keep, kvd,
                    s->storage, s->comp);
      const std::vector<uint8_t> ntok(tok.begin(), tok.begin() + keep * 4);
      auto up = d.prepare(
          "UPDATE kv_rows SET n_tokens = ?, checksum = ?, stored_bytes = ?, tokens = ?, kv = ? "
          "WHERE node_id = ? AND token_begin = ?");
      if (!up) return up.error_status();
      up->bind(1, keep).bind(2, row_checksum(tb, keep, s->storage, s->comp, ntok, nkv));
      up->bind(3, static_cast<int64_t>(ntok.size() + nkv.size())).bind_blob(4, ntok).bind_blob(5, nkv);
      up->bind(6, root->id).bind(7, tb);
      TOME_TRY(up->run());
    }
  }
  auto node = d.prepare(
      std::string("UPDATE nodes SET n_tokens = ?, self_rows = ?, state_raw_bytes = ?, state = ?, "
                  "state_checksum = ?, updated_at = ") +
      k_now_sql + " WHERE id = ?");
  if (!node) return node.error_status();
  node->bind(1, c).bind(2, self_rows).bind(3, root->state_raw_bytes).bind_blob(4, state);
  node->bind(5, state_checksum(c, self_rows, state)).bind(6, root->id);
  TOME_TRY(node->run());
  auto ses = d.prepare(std::string("UPDATE sessions SET target_tokens = ?, updated_at = ") + k_now_sql +
                       " WHERE id = ?");
  if (!ses) return ses.error_status();
  ses->bind(1, c).bind(2, s->id);
  TOME_TRY(ses->run());
  TOME_TRY(t.commit());
  return c;
}

namespace {

// A read transaction around a load, so that its statements and blob reads see one snapshot
// (another process may commit meanwhile); none when the caller holds a transaction already.
struct read_snapshot {
  db& d;
  bool open = false;
  explicit read_snapshot(db& x) : d(x) {
    if (!d.in_transaction()) open = d.exec("BEGIN").ok();
  }
  ~read_snapshot() {
    if (open) sqlite3_exec(d.handle(), "COMMIT", nullptr, nullptr, nullptr);
  }
};

}  // namespace

result<std::unique_ptr<tome::session>> library::impl::load_node(
    const session_row& s, const node_row& n, std::shared_ptr<const model> m) const {
  if (!m) return error("no model");
  TOME_TRY(check_model(s, *m));
  const std::string where = d->path().string() + ": session '" + s.name + "'";
  if (n.n_tokens > m->config().max_context)
    return error(where + " holds more tokens than the model's context");
  read_snapshot snap(*d);
  // Tokens, row list and self-decoder state first (small); then the KV rows go straight from
  // the file into the backend (read, checked, decoded and imported on several threads).
  std::vector<row_ref> rows;
  node_state ns;
  TOME_TRY(list_rows(s, n, false, rows, ns.tokens));
  TOME_TRY(read_state_blob(s, n, ns));
  session_parts p;
  p.fingerprint = s.model_fingerprint;
  p.kv_precision = s.kv_precision;
  p.self_kind = static_cast<self_decoder_kind>(s.self_kind);
  p.n_tokens = n.n_tokens;
  p.self_rows = n.self_rows;
  p.n_self_layers = s.n_self_layers;
  p.self_layer_floats = ns.self_state.empty() ? 0 : static_cast<int64_t>(ns.self_state[0].size());
  p.dim = s.dim;
  p.kv_dim = s.kv_dim;
  p.tokens = std::move(ns.tokens);
  p.self_state = std::move(ns.self_state);
  p.last_hidden = std::move(ns.last_hidden);
  auto b = session_builder::begin(std::move(m), std::move(p));
  if (!b) return b.error_status().with_context(where);
  session_builder& sb = **b;
  // Rows [dst, dst + use): a cut row (a thread's parent rows end inside it) gives its first rows
  // of K, and V from after all of K, as read_kv_rows passes them.
  TOME_TRY(read_kv_rows(
      s, rows, sb.native_wire(),
      [&sb](const row_ref& r, kv_wire w, const void* k, const void* v) {
        return sb.put_kv_rows(r.dst, r.use, w, k, v);
      },
      d->path().string() + ": session '" + s.name + "'" +
          (n.name.empty() ? "" : " thread '" + n.name + "'")));
  auto r = sb.finish();
  if (!r) return r.error_status().with_context(where);
  return r;
}

status library::impl::verify_session(const session_row& s, const model& m) const {
  TOME_TRY(check_model(s, m));
  const model_config& c = m.config();
  const std::string where = d->path().string() + ": session '" + s.name + "'";
  auto nodes = nodes_of(s.id);
  if (!nodes) return nodes.error_status();
  int roots = 0;
  for (const node_row& n : *nodes) {
    if (!n.parent) {
      ++roots;
      if (!n.name.empty() || n.base_tokens != 0)
        return error(where + ": invalid document state record");
    } else {
      const node_row* p = nullptr;
      for (const auto& x : *nodes)
        if (x.id == *n.parent) p = &x;
      if (!p || n.name.empty() || n.base_tokens > p->n_tokens)
        return error(where + ": thread '" + n.name + "' does not branch from this session's state");
    }
    if (n.n_tokens < n.base_tokens || n.n_tokens > c.max_context)
      return error(where + ": a state holds an invalid token count");
    if (n.self_rows != self_rows_for(c, n.n_tokens))
      return error(where + ": a self-decoder state has the wrong number of rows");
    node_state ns;
    TOME_TRY(read_chain(s, n, true, true, ns));
    for (int32_t t : ns.tokens)
      if (t < 0 || t >= c.vocab_size)
        return error(where + ": holds token id " + std::to_string(t) + " outside the vocabulary");
    TOME_TRY(read_state_blob(s, n, ns));
    for (const auto& layer : ns.self_state)
      if (static_cast<int64_t>(layer.size()) != self_layer_floats_for(c, n.n_tokens))
        return error(where + ": a self-decoder state has the wrong size");
  }
  if (roots != 1) return error(where + ": it must have exactly one document state");
  int64_t doc_tokens = 0;
  for (const node_row& n : *nodes)
    if (!n.parent) doc_tokens = n.n_tokens;
  auto der = d->prepare("SELECT key, n_tokens, value, checksum FROM derived WHERE session_id = ?");
  if (!der) return der.error_status();
  der->bind(1, s.id);
  for (;;) {
    auto r = der->step();
    if (!r) return r.error_status();
    if (!*r) break;
    const std::string key = der->text(0);
    if (der->int64(1) < 0 || der->int64(1) > doc_tokens ||
        derived_checksum(der->int64(1), key, der->blob(2)) != der->int64(3))
      return error(where + ": the derived value '" + key +
                   "' fails its checksum or is for tokens the session does not hold");
  }
  auto docs = d->prepare(
      "SELECT title, token_begin, token_end, source_map, metadata FROM documents WHERE session_id "
      "= ?");
  if (!docs) return docs.error_status();
  docs->bind(1, s.id);
  for (;;) {
    auto r = docs->step();
    if (!r) return r.error_status();
    if (!*r) break;
    const auto sm = docs->blob(3);
    const std::string meta = docs->text(4);
    if (docs->int64(1) < 0 || docs->int64(2) < docs->int64(1) || docs->int64(2) > c.max_context)
      return error(where + ": document '" + docs->text(0) + "' has an invalid token range");
    if ((!sm.empty() && !nlohmann::json::accept(sm.begin(), sm.end())) ||
        (!meta.empty() && !nlohmann::json::accept(meta)))
      return error(where + ": document '" + docs->text(0) +
                   "' has a source map or metadata that is not JSON");
  }
  return {};
}

result<checkpoint_result> library::prefill(std::string_view session, std::shared_ptr<const model> m,
                                           std::span<const int32_t> tokens,
                                           const checkpoint_params& p) {
  if (!m) return error("no model");
  const auto t0 = clock_type::now();
  auto s = impl_->get_session(session);
  if (!s) return s.error_status();
  auto n = impl_->get_node(*s, p.thread);
  if (!n) return n.error_status();
  TOME_TRY(impl_->check_model(*s, *m));
  const int64_t total = static_cast<int64_t>(tokens.size());
  const std::string where = impl_->d->path().string() + ": session '" + s->name + "'";
  node_state saved;
  TOME_TRY(impl_->read_chain(*s, *n, false, false, saved));
  const int64_t committed = n->n_tokens;
  if (committed > total)
    return error(where + " holds " + std::to_string(committed) + " tokens already, more than the " +
                 std::to_string(total) + " given");
  for (int64_t i = 0; i < committed; ++i)
    if (saved.tokens[static_cast<size_t>(i)] != tokens[static_cast<size_t>(i)])
      return error(where + " holds different tokens from token " + std::to_string(i) +
                   " on (the document changed: remove the session and read it again)");
  if (!n->parent) {
    auto st = impl_->d->prepare("UPDATE sessions SET target_tokens = ? WHERE id = ?");
    if (!st) return st.error_status();
    st->bind(1, total).bind(2, s->id);
    TOME_TRY(st->run());
  }
  checkpoint_result out;
  out.resumed_from = committed;
  if (committed == 0 && !n->parent) {
    auto fresh = session::create(m);
    if (!fresh) return fresh.error_status();
    out.s = std::move(*fresh);
  } else {
    auto loaded = impl_->load_node(*s, *n, m);
    if (!loaded) return loaded.error_status();
    out.s = std::move(*loaded);
  }
  const int64_t chunk = std::max<int64_t>(1, p.chunk_tokens);
  for (int64_t off = committed; off < total;) {
    if (p.cancel && p.cancel->load()) {
      out.cancelled = true;
      break;
    }
    const int64_t len = std::min(chunk, total - off);
    prefill_params pp;
    pp.chunk_tokens = len;
    pp.compute_logits = false;
    pp.cancel = p.cancel;
    auto r = out.s->prefill(tokens.subspan(static_cast<size_t>(off), static_cast<size_t>(len)), pp);
    if (!r) return r.error_status();
    if (r->tokens_done < len) {  // cancelled inside the chunk: the session is still at `off`
      out.cancelled = true;
      break;
    }
    TOME_TRY(impl_->commit(*s, *n, *out.s, false));
    off += len;
    out.tokens_done += len;
    ++out.checkpoints;
    if (p.on_progress) {
      prefill_progress pr;
      pr.done = off;
      pr.total = total;
      pr.elapsed_seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
      pr.tokens_per_second = pr.elapsed_seconds > 0 ? out.tokens_done / pr.elapsed_seconds : 0;
      p.on_progress(pr);
    }
  }
  if (p.compute_logits && !out.cancelled && out.s->n_tokens() > 0) {
    auto lg = out.s->logits();
    if (!lg) return lg.error_status();
  }
  out.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  return out;
}

status library::save(std::string_view session, const tome::session& s, std::string_view thread) {
  auto row = impl_->get_session(session);
  if (!row) return row.error_status();
  auto n = impl_->get_node(*row, thread);
  if (!n) return n.error_status();
  return impl_->commit(*row, *n, s, true);
}

result<std::unique_ptr<tome::session>> library::load(std::string_view session,
                                                     std::shared_ptr<const model> m,
                                                     std::string_view thread) const {
  auto row = impl_->get_session(session);
  if (!row) return row.error_status();
  auto n = impl_->get_node(*row, thread);
  if (!n) return n.error_status();
  return impl_->load_node(*row, *n, std::move(m));
}

result<std::vector<int32_t>> library::tokens(std::string_view session,
                                             std::string_view thread) const {
  auto row = impl_->get_session(session);
  if (!row) return row.error_status();
  auto n = impl_->get_node(*row, thread);
  if (!n) return n.error_status();
  node_state ns;
  TOME_TRY(impl_->read_chain(*row, *n, false, false, ns));
  return std::move(ns.tokens);
}

status library::verify(std::string_view session, const model& m) const {
  auto row = impl_->get_session(session);
  if (!row) return row.error_status();
  return impl_->verify_session(*row, m);
}

}  // namespace tome::store
