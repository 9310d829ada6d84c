// tome::model::load: reads and checks a model directory (config.json, tokenizer.model,
// model.safetensors), fingerprints it, and puts the weights on the chosen backend.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "backend/backend.h"
#include "model/safetensors.h"
#include "model/random_weights.h"
#include "model/tensor_table.h"
#include "tome/engine.h"
#include "util/hash.h"

namespace tome {
namespace {

result<std::string> read_small_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return error(p.string() + ": cannot be read");
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// config.json's text for the fingerprint: without its top-level "pointer_heads" member (from the
// comma before it to the end of its value), which changes no computed state (it only says which
// heads tome::pointer_attention reads), so choosing the heads again, or adding them, keeps the
// sessions a model made. Text without that member is returned as it is.
std::string fingerprinted_config(const std::string& text) {
  const std::string key = "\"pointer_heads\"";
  int depth = 0;
  bool in_string = false, escaped = false;
  size_t string_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') {
        in_string = false;
        // A top-level key: the string, then ':'.
        if (depth != 1 || text.compare(string_start, i + 1 - string_start, key) != 0) continue;
        size_t j = i + 1;
        while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
        if (j >= text.size() || text[j] != ':') continue;
        // The value's end: balanced brackets and braces, strings skipped.
        size_t k = j + 1, end = std::string::npos;
        int d = 0;
        bool str = false, esc = false;
        for (; k < text.size(); ++k) {
          const char v = text[k];
          if (str) {
            if (esc) esc = false;
            else if (v == '\\') esc = true;
            else if (v == '"') str = false;
          } else if (v == '"') {
            str = true;
          } else if (v == '[' || v == '{') {
            ++d;
          } else if (v == ']' || v == '}') {
            if (d == 0) {  // the object's end: a scalar value ended before it
              end = k;
              break;
            }
            if (--d == 0) {
              end = k + 1;
              break;
            }
          } else if (v == ',' && d == 0) {
            end = k;
            break;
          }
        }
        if (end == std::string::npos) return text;
        size_t from = string_start;
        size_t b = from;
        while (b > 0 && std::isspace(static_cast<unsigned char>(text[b - 1]))) --b;
        if (b > 0 && text[b - 1] == ',') return text.substr(0, b - 1) + text.substr(end);
        // The first member: up to the next member.
        size_t e = end;
        while (e < text.size() && std::isspace(static_cast<unsigned char>(text[e]))) ++e;
        if (e < text.size() && text[e] == ',') {
          ++e;
          while (e < text.size() && std::isspace(static_cast<unsigned char>(text[e]))) ++e;
        }
        return text.substr(0, from) + text.substr(e);
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      string_start = i;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return text;
}

}  // namespace

model::~model() = default;

result<std::shared_ptr<model>> model::load(const std::filesystem::path& dir,
                                           const load_params& params) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return error(dir.string() + ": no such model directory");
  if (!std::filesystem::is_directory(dir, ec))
    return error(dir.string() + ": not a directory (a model is a directory with config.json, "
                                "model.safetensors and tokenizer.model)");
  std::shared_ptr<model> m(new model());
  m->dir_ = dir;
  const auto config_path = dir / "config.json";
  auto config = load_model_config(config_path);
  if (!config) return config.error_status();
  m->config_ = *config;

  const auto tok_path = dir / "tokenizer.model";
  auto tok = tokenizer::load(tok_path, m->config_);
  if (!tok) return tok.error_status();
  m->tokenizer_ = std::move(*tok);

  const auto weights_path = dir / "model.safetensors";
  auto file = safetensors_file::open(weights_path);
  if (!file) return file.error_status();
  m->weights_ = std::move(*file);
  TOME_TRY(check_tensors(m->weights_->index(), m->config_, weights_path.string()));

  for (const expected_tensor& t : expected_tensors(m->config_)) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    m->n_parameters_ += n;
  }
  if (const tensor_view* w = m->weights_->index().find("self.0.ffn.w1.weight")) {
    static const char* names[] = {"f32", "f16", "bf16", "int8"};
    m->weights_dtype_ = names[static_cast<int>(w->type)];
  }

  // Fingerprint: config (without "pointer_heads": fingerprinted_config), weights and tokenizer
  // bytes, each length-prefixed.
  auto config_text = read_small_file(config_path);
  auto tok_bytes = read_small_file(tok_path);
  if (!config_text) return config_text.error_status();
  if (!tok_bytes) return tok_bytes.error_status();
  *config_text = fingerprinted_config(*config_text);
  hasher h;
  for (const std::string* s : {&*config_text, &*tok_bytes}) {
    h.update(std::to_string(s->size()) + ":");
    h.update(*s);
  }
  h.update(std::to_string(m->weights_->bytes().size()) + ":");
  h.update(m->weights_->bytes());
  m->fingerprint_ = h.hex();

  TOME_TRY(m->init_backend(m->weights_->index(), weights_path.string(), params));
  return m;
}

status model::init_backend(const safetensors_index& index, const std::string& source,
                           const load_params& params) {
  backend_kind want = params.backend;
#ifdef TOME_HAVE_CUDA
  if (want == backend_kind::automatic) want = cuda_backend_available(nullptr) ? backend_kind::cuda : backend_kind::cpu;
  if (want == backend_kind::cuda) {
    auto be = make_cuda_backend(config_, index, source, params.kv, params.weights);
    if (!be) return be.error_status();
    backend_ = std::move(*be);
    return {};
  }
#else
  if (want == backend_kind::cuda)
    return error("this build of Tome has no CUDA backend (built without nvcc); use --backend cpu");
#endif
  if (params.kv == kv_format::fp8)
    return error("the fp8 global KV needs the CUDA backend (the CPU backend keeps its KV in f32); "
                 "use --kv bf16 on the CPU");
  if (params.weights == weight_format::int8) {  // the CPU computes from the stored values
    const tensor_view* w = index.find("output.weight");  // a matrix in every model kind
    if (!w || w->type != dtype::i8)
      return error("int8 weights on the CPU backend need a model stored in int8 (the CPU computes in f32 from "
                   "the stored matrices); use --weights auto, or the CUDA backend, which quantises at load");
  }
  auto be = make_cpu_backend(config_, index, source, params.n_threads);
  if (!be) return be.error_status();
  backend_ = std::move(*be);
  return {};
}

const char* to_string(kv_format f) { return f == kv_format::fp8 ? "fp8" : "native"; }
const char* to_string(weight_format f) {
  return f == weight_format::int8 ? "int8" : f == weight_format::bf16 ? "bf16" : "auto";
}

result<std::shared_ptr<model>> model::create_random(const model_config& config, uint64_t seed,
                                                    const load_params& params) {
  std::shared_ptr<model> m(new model());
  m->config_ = config;
  const bool int8 = params.weights == weight_format::int8;  // the matrices quantised as export.py does
  m->owned_weights_ = random_safetensors(config, seed, int8);
  const std::string source = "random weights (seed " + std::to_string(seed) + ")";
  auto index = parse_safetensors(m->owned_weights_, source);
  if (!index) return index.error_status();
  TOME_TRY(check_tensors(*index, config, source));
  for (const expected_tensor& t : expected_tensors(config)) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    m->n_parameters_ += n;
  }
  m->weights_dtype_ = int8 ? "int8" : "f32";
  m->fingerprint_ = hash_hex(m->owned_weights_);
  TOME_TRY(m->init_backend(*index, source, params));
  return m;
}

std::string model::weights_dtype() const { return weights_dtype_; }
int64_t model::n_parameters() const { return n_parameters_; }
backend_kind model::backend_in_use() const { return backend_->kind(); }
std::string model::backend_description() const { return backend_->description(); }
int64_t host_available_memory() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (f >> key >> kib) {
    std::getline(f, unit);
    if (key == "MemAvailable:") return kib * 1024;
  }
  return -1;
}

std::string format_bytes(int64_t b) {
  char buf[32];
  if (b < 1024) std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
  else if (b < (int64_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else if (b < (int64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.1f MiB", b / 1048576.0);
  else std::snprintf(buf, sizeof buf, "%.2f GiB", b / 1073741824.0);
  return buf;
}

std::string memory_plan::describe() const {
  std::string s = std::to_string(n_tokens) + " tokens need " + format_bytes(additional()) +
                  " (global KV " + format_bytes(need.global_kv) + ", self-decoder state " +
                  format_bytes(need.self_state) + ", workspace " + format_bytes(need.workspace) +
                  "; weights " + format_bytes(need.weights) + " already loaded)";
  if (available >= 0) s += ", " + format_bytes(available) + " free";
  return s;
}

memory_plan model::plan_memory(int64_t n_tokens, int64_t chunk_tokens) const {
  memory_plan p;
  p.n_tokens = n_tokens;
  p.need.weights = backend_->weight_bytes();
  p.need.global_kv = backend_->kv_rows_reserved(n_tokens) * backend_->kv_bytes_per_token();
  p.need.self_state = backend_->self_state_bytes();
  p.need.workspace = backend_->workspace_bytes(std::clamp<int64_t>(chunk_tokens, 1, std::max<int64_t>(n_tokens, 1)));
  p.available = backend_->available_memory();
  return p;
}

int64_t model::kv_bytes_per_token() const { return backend_->kv_bytes_per_token(); }
device_memory_usage model::device_memory() const { return backend_->device_memory(); }
void model::reset_peak_memory() const { backend_->reset_peak_memory(); }

memory_breakdown model::memory() const {
  memory_breakdown m;
  m.weights = backend_->weight_bytes();
  m.embedding = backend_->embedding_bytes();
  return m;
}

}  // namespace tome
