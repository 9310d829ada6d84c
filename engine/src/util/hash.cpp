// XXH3-128 (libxxhash) behind tome::hasher, plus one-shot helpers. hex() prints the canonical
// (big-endian) form, the same digits as `xxhsum -H2`. Not a cryptographic hash: it detects
// accidents (another model, a corrupt snapshot), not tampering.
#include "util/hash.h"

#include <xxhash.h>

#include <new>

namespace tome {
namespace {

std::string to_hex(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string s(32, '0');
  for (int i = 0; i < 16; ++i) {
    s[2 * i] = k_digits[c.digest[i] >> 4];
    s[2 * i + 1] = k_digits[c.digest[i] & 15];
  }
  return s;
}

}  // namespace

hasher::hasher() : state_(XXH3_createState()) {
  if (!state_) throw std::bad_alloc();  // out of memory only; never on input
  XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_));
}

hasher::~hasher() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void hasher::update(std::span<const uint8_t> bytes) {
  if (!bytes.empty())
    XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), bytes.data(), bytes.size());
}

void hasher::update(const std::string& s) {
  update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

std::string hasher::hex() const {
  return to_hex(XXH3_128bits_digest(static_cast<const XXH3_state_t*>(state_)));
}

std::string hash_hex(std::span<const uint8_t> bytes) {
  return to_hex(XXH3_128bits(bytes.data(), bytes.size()));
}

uint64_t hash64(std::span<const uint8_t> bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

}  // namespace tome
