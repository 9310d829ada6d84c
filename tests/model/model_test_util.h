// Helpers for the model-directory tests: the golden-like config (D 64, 2+2 layers, H_s 4,
// H_q 4, H_kv 2, F 96, V 512, the tiny tokenizer's specials), JSON edits of it, safetensors byte
// images built by hand (a writer for valid files, raw headers for broken ones) and temp files.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/dtype.h"
#include "tome/model_config.h"

namespace tome::test {

using ojson = nlohmann::ordered_json;

inline ojson golden_config_json() {
  return ojson::parse(R"({
  "format": "tome-yoco",
  "format_version": 1,
  "name": "tome-golden-gret",
  "dim": 64,
  "n_self_layers": 2,
  "n_cross_layers": 2,
  "n_self_heads": 4,
  "n_heads": 4,
  "n_kv_heads": 2,
  "ffn_dim": 96,
  "vocab_size": 512,
  "self_decoder": {"kind": "gated_retention", "gate_temperature": 16.0},
  "rope_theta": 10000.0,
  "norm_eps": 1e-5,
  "max_context": 1048576,
  "special_tokens": {
    "unk": {"id": 0, "piece": "<unk>"},
    "bos": {"id": 1, "piece": "<s>"},
    "eos": {"id": 2, "piece": "</s>"},
    "pad": {"id": 3, "piece": "<pad>"},
    "doc_start": {"id": 4, "piece": "<|doc|>"},
    "doc_end": {"id": 5, "piece": "<|/doc|>"},
    "file_start": {"id": 6, "piece": "<|file|>"},
    "question": {"id": 7, "piece": "<|question|>"},
    "answer": {"id": 8, "piece": "<|answer|>"},
    "fim_prefix": {"id": 9, "piece": "<|fim_prefix|>"},
    "fim_suffix": {"id": 10, "piece": "<|fim_suffix|>"},
    "fim_middle": {"id": 11, "piece": "<|fim_middle|>"}
  },
  "templates": {
    "document": "<s><|doc|>{text}<|/doc|>",
    "file": "<|file|>{path}\n{text}",
    "question": "<|question|>{question}<|answer|>",
    "completion": "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>"
  },
  "training": {"comment": "free-form metadata, ignored by the engine", "nested": [1, {"a": null}]}
})");
}

// The golden config text after `edit` (which may add, change or erase fields).
inline std::string golden_config_text(const std::function<void(ojson&)>& edit = {}) {
  ojson j = golden_config_json();
  if (edit) edit(j);
  return j.dump(2);
}

inline model_config golden_config(const std::function<void(ojson&)>& edit = {}) {
  auto c = parse_model_config(golden_config_text(edit), "config.json");
  if (!c) throw std::runtime_error(c.message());
  return *c;
}

inline std::string tokenizer_path() {
  return std::string(TOME_SOURCE_DIR) + "/tests/data/tokenizer/tiny.model";
}

// A safetensors image: 8-byte little-endian length, the header text verbatim, then the data.
// `declared_len` overrides the length field (for broken files).
inline std::vector<uint8_t> st_image(const std::string& header, const std::vector<uint8_t>& data,
                                     std::optional<uint64_t> declared_len = std::nullopt) {
  const uint64_t n = declared_len.value_or(header.size());
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<uint8_t>(n >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

inline std::vector<uint8_t> st_image(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> data(data_bytes);
  for (size_t i = 0; i < data_bytes; ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
  return st_image(header, data);
}

// Writes valid safetensors files tensor by tensor, contiguously, in the order added.
class safetensors_writer {
 public:
  // Data: deterministic pseudo-random values of the dtype (small I8 values, floats in [-1, 1)).
  safetensors_writer& add(const std::string& name, dtype type, const std::vector<int64_t>& shape) {
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    std::vector<uint8_t> bytes(n * dtype_size(type));
    std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>{}(name)));
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (size_t i = 0; i < n; ++i) {
      const float v = u(rng);
      uint8_t* p = bytes.data() + i * dtype_size(type);
      switch (type) {
        case dtype::f32: std::memcpy(p, &v, 4); break;
        case dtype::f16: {
          uint16_t h = f32_to_f16(v);
          std::memcpy(p, &h, 2);
          break;
        }
        case dtype::bf16: {
          uint16_t h = f32_to_bf16(v);
          std::memcpy(p, &h, 2);
          break;
        }
        case dtype::i8: *p = static_cast<uint8_t>(static_cast<int8_t>(v * 127)); break;
      }
    }
    return add_bytes(name, type, shape, bytes);
  }

  safetensors_writer& add_bytes(const std::string& name, dtype type,
                                const std::vector<int64_t>& shape,
                                const std::vector<uint8_t>& bytes) {
    header_[name] = {{"dtype", dtype_name(type)},
                     {"shape", shape},
                     {"data_offsets", {data_.size(), data_.size() + bytes.size()}}};
    data_.insert(data_.end(), bytes.begin(), bytes.end());
    return *this;
  }

  safetensors_writer& metadata(const std::string& key, const std::string& value) {
    header_["__metadata__"][key] = value;
    return *this;
  }

  std::string header() const { return header_.dump(); }
  std::vector<uint8_t> build() const { return st_image(header(), data_); }

 private:
  ojson header_ = ojson::object();
  std::vector<uint8_t> data_;
};

// A fresh directory under the build tree, removed at destruction.
class temp_dir {
 public:
  explicit temp_dir(const std::string& name)
      : path_(std::filesystem::path(TOME_BINARY_DIR) / "test_tmp" / name) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, const void* data, size_t n) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary)
        .write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
    return p;
  }
  std::filesystem::path write(const std::string& name, const std::string& s) const {
    return write(name, s.data(), s.size());
  }
  std::filesystem::path write(const std::string& name, const std::vector<uint8_t>& b) const {
    return write(name, b.data(), b.size());
  }

 private:
  std::filesystem::path path_;
};

}  // namespace tome::test
