// Content hashes (XXH3-128 from libxxhash): model fingerprints, snapshot checksums.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace tome {

class hasher {
 public:
  hasher();
  ~hasher();
  hasher(const hasher&) = delete;
  hasher& operator=(const hasher&) = delete;
  void update(std::span<const uint8_t> bytes);
  void update(const std::string& s);
  std::string hex() const;  // 32 lowercase hex digits

 private:
  void* state_;
};

std::string hash_hex(std::span<const uint8_t> bytes);
uint64_t hash64(std::span<const uint8_t> bytes);

}  // namespace tome
