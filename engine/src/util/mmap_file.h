// A read-only memory mapping of a whole file (RAII). Empty files map to an empty span.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

#include "tome/status.h"

namespace tome {

class mmap_file {
 public:
  mmap_file() = default;
  ~mmap_file();
  mmap_file(mmap_file&& other) noexcept;
  mmap_file& operator=(mmap_file&& other) noexcept;
  mmap_file(const mmap_file&) = delete;
  mmap_file& operator=(const mmap_file&) = delete;

  // Errors name the path: missing, unreadable, a directory …
  static result<mmap_file> open(const std::filesystem::path& path);
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tome
