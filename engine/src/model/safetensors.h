// Reading the safetensors format: 8-byte little-endian header length N, N bytes of JSON header
// ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}), then the data.
// The file is memory-mapped; tensor views point into the mapping. Parsing is separate from
// mapping so the fuzz target can feed it arbitrary bytes. Every malformed case is an error value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/dtype.h"
#include "tome/status.h"
#include "util/mmap_file.h"

namespace tome {

struct tensor_view {
  std::string name;
  dtype type = dtype::f32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapping (or the parsed buffer); may be unaligned
  size_t nbytes = 0;
  int64_t numel() const;
};

struct safetensors_index {
  std::vector<tensor_view> tensors;  // in data-offset order
  std::map<std::string, std::string> metadata;
  const tensor_view* find(const std::string& name) const;
};

// Parses a whole safetensors byte image. `source` names the file in error messages.
result<safetensors_index> parse_safetensors(std::span<const uint8_t> bytes,
                                            const std::string& source);

class safetensors_file {
 public:
  static result<std::unique_ptr<safetensors_file>> open(const std::filesystem::path& path);
  const safetensors_index& index() const { return index_; }
  std::span<const uint8_t> bytes() const { return map_.bytes(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  mmap_file map_;
  safetensors_index index_;
};

}  // namespace tome
