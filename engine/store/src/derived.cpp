// Values derived from a session's document tokens (table `derived`, schema 4): opaque bytes under
// (key, n_tokens) with an XXH3-64 checksum over (n_tokens, key, value). The store does not read
// them; the service keeps the paths' prior of the calibrated which-file choice here.
#include <xxhash.h>

#include "library_impl.h"

namespace tome::store {
namespace {

constexpr size_t k_max_derived_bytes = size_t{64} << 20;

std::span<const uint8_t> bytes_of(std::string_view v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size()};
}

}  // namespace

int64_t derived_checksum(int64_t n_tokens, std::string_view key, std::span<const uint8_t> value) {
  XXH3_state_t* s = XXH3_createState();
  XXH3_64bits_reset(s);
  const int64_t head[2] = {n_tokens, static_cast<int64_t>(key.size())};
  XXH3_64bits_update(s, head, sizeof head);
  XXH3_64bits_update(s, key.data(), key.size());
  XXH3_64bits_update(s, value.data(), value.size());
  const uint64_t h = XXH3_64bits_digest(s);
  XXH3_freeState(s);
  return static_cast<int64_t>(h);
}

status library::put_derived(std::string_view session, std::string_view key, int64_t n_tokens,
                            std::string_view value) {
  auto s = impl_->get_session(session);
  if (!s) return s.error_status();
  auto root = impl_->get_node(*s, "");
  if (!root) return root.error_status();
  db& d = *impl_->d;
  const std::string where = d.path().string() + ": session '" + s->name + "'";
  if (key.empty() || key.size() > 200) return error(where + ": a derived value needs a key of 1-200 bytes");
  if (n_tokens < 0 || n_tokens > root->n_tokens)
    return error(where + ": a derived value for " + std::to_string(n_tokens) +
                 " tokens, but the document state holds " + std::to_string(root->n_tokens));
  if (value.size() > k_max_derived_bytes)
    return error(where + ": a derived value of " + std::to_string(value.size()) +
                 " bytes (at most 64 MiB)");
  transaction t(d);
  TOME_TRY(t.begin());
  auto st = d.prepare(
      std::string("INSERT OR REPLACE INTO derived(session_id, key, n_tokens, value, checksum, "
                  "created_at) VALUES(?, ?, ?, ?, ?, ") +
      k_now_sql + ")");
  if (!st) return st.error_status();
  st->bind(1, s->id).bind(2, key).bind(3, n_tokens).bind_blob(4, bytes_of(value));
  st->bind(5, derived_checksum(n_tokens, key, bytes_of(value)));
  TOME_TRY(st->run().with_context("saving a derived value"));
  return t.commit();
}

result<std::optional<std::string>> library::derived(std::string_view session, std::string_view key,
                                                    int64_t n_tokens) const {
  auto s = impl_->get_session(session);
  if (!s) return s.error_status();
  db& d = *impl_->d;
  auto st = d.prepare(
      "SELECT value, checksum FROM derived WHERE session_id = ? AND key = ? AND n_tokens = ?");
  if (!st) return st.error_status();
  st->bind(1, s->id).bind(2, key).bind(3, n_tokens);
  auto r = st->step();
  if (!r) return r.error_status();
  if (!*r) return std::optional<std::string>{};
  const auto v = st->blob(0);
  if (derived_checksum(n_tokens, key, v) != st->int64(1))
    return error(d.path().string() + ": session '" + s->name + "': the derived value '" +
                 std::string(key) + "' fails its checksum (the file is corrupt)");
  return std::optional<std::string>(std::string(reinterpret_cast<const char*>(v.data()), v.size()));
}

}  // namespace tome::store
