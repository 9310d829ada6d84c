// A read-only zip archive for EPUB through libzip, with the limits that stop zip bombs: entry
// count (checked at open), inflated size per entry and in total, and the compression ratio
// (checked from the central directory before inflating, and again while inflating, so a lying
// size field cannot make us inflate more than the limits). Nothing is ever written to disk.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tome/status.h"

struct zip;

namespace tome::ingest::detail {

struct zip_limits {
  uint64_t max_entries = 10'000;
  uint64_t max_entry_bytes = 64ull << 20;
  uint64_t max_total_bytes = 512ull << 20;
  double max_ratio = 200.0;  // for entries over 1 MiB inflated
};

class zip_archive {
 public:
  // Errors: not a zip archive, inconsistent archive, too many entries. Messages have no file name
  // (the caller adds it).
  static result<zip_archive> open_file(const std::filesystem::path& path, const zip_limits& lim);
  // `bytes` must outlive the archive.
  static result<zip_archive> open_memory(std::string_view bytes, const zip_limits& lim);

  zip_archive(zip_archive&&) noexcept;
  zip_archive& operator=(zip_archive&&) noexcept;
  ~zip_archive();

  bool contains(const std::string& name) const { return index_.count(name) > 0; }
  uint64_t entry_count() const { return entries_; }
  uint64_t bytes_read() const { return total_read_; }
  // The inflated entry. Errors: "no entry X", "X: inflates to N (limit M)", "X: compression
  // ratio N:1 (zip bomb?)", "X: encrypted", "X: corrupt (CRC error)", "total limit reached".
  result<std::string> read(const std::string& name);
  bool total_limit_reached() const { return total_read_ >= limits_.max_total_bytes; }

 private:
  zip_archive() = default;
  static result<zip_archive> finish_open(struct zip* z, const zip_limits& lim);

  struct zip* zip_ = nullptr;
  zip_limits limits_;
  uint64_t entries_ = 0;
  uint64_t total_read_ = 0;
  std::unordered_map<std::string, uint64_t> index_;  // name -> entry index (first wins)
};

}  // namespace tome::ingest::detail
