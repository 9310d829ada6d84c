// The tensor table (engine/tensor_names.json, embedded by CMake as tome::detail::tensor_names_json)
// resolved against a config, and the check of a safetensors index against it: every expected
// tensor present with its shape; I8 only for matrices, each with a [rows] float "<name>_scale";
// nothing else in the file. The table is parsed once (thread-safe static init).
#include "model/tensor_table.h"

#include <unordered_map>
#include <unordered_set>

#include "tensor_names_json.h"
#include "util/json.h"

namespace tome {
namespace {

struct table_entry {
  std::string name;                // may contain "{i}"
  std::vector<std::string> shape;  // config symbols or decimal literals
  tensor_kind kind = tensor_kind::matrix;
};

struct tensor_table {
  std::vector<table_entry> global, self_common, self_gated_retention, self_sliding_window, cross;
  std::string problem;  // non-empty when the embedded table is malformed (a build bug)
};

status read_list(const json& j, const char* what, std::vector<table_entry>* out) {
  if (!j.is_array()) return error(std::string(what) + " is not an array");
  for (const json& e : j) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("shape") ||
        !e["shape"].is_array() || !e.contains("kind") || !e["kind"].is_string()) {
      return error(std::string(what) + ": an entry lacks name, shape or kind");
    }
    table_entry t;
    t.name = e["name"].get<std::string>();
    for (const json& s : e["shape"]) {
      if (!s.is_string()) return error(t.name + ": shape entries must be symbol strings");
      t.shape.push_back(s.get<std::string>());
    }
    const std::string kind = e["kind"].get<std::string>();
    if (kind == "matrix") {
      t.kind = tensor_kind::matrix;
    } else if (kind == "norm") {
      t.kind = tensor_kind::norm;
    } else {
      return error(t.name + ": unknown kind '" + kind + "'");
    }
    out->push_back(std::move(t));
  }
  return {};
}

tensor_table load_table() {
  tensor_table t;
  auto parsed = parse_json(detail::tensor_names_json);
  if (!parsed) {
    t.problem = parsed.message();
    return t;
  }
  const json& j = *parsed;
  status s;
  if (!j.is_object() || !j.contains("global") || !j.contains("self_layer") ||
      !j.contains("cross_layer") || !j["self_layer"].is_object() ||
      !j["self_layer"].contains("common") || !j["self_layer"].contains("gated_retention") ||
      !j["self_layer"].contains("sliding_window")) {
    s = error("missing global, self_layer.{common,gated_retention,sliding_window} or cross_layer");
  }
  if (s) s = read_list(j["global"], "global", &t.global);
  if (s) s = read_list(j["self_layer"]["common"], "self_layer.common", &t.self_common);
  if (s)
    s = read_list(j["self_layer"]["gated_retention"], "self_layer.gated_retention",
                  &t.self_gated_retention);
  if (s)
    s = read_list(j["self_layer"]["sliding_window"], "self_layer.sliding_window",
                  &t.self_sliding_window);
  if (s) s = read_list(j["cross_layer"], "cross_layer", &t.cross);
  if (!s) t.problem = s.message();
  return t;
}

const tensor_table& table() {
  static const tensor_table t = load_table();
  return t;
}

// Shape symbol -> size. Unknown symbols resolve to -1 (never matches a stored shape).
int64_t resolve(const std::string& symbol, const model_config& c) {
  if (symbol == "dim") return c.dim;
  if (symbol == "ffn_dim") return c.ffn_dim;
  if (symbol == "vocab_size") return c.vocab_size;
  if (symbol == "n_self_heads") return c.n_self_heads;
  if (symbol == "kv_dim") return c.n_heads > 0 ? c.kv_dim() : -1;
  if (!symbol.empty() && symbol.size() < 10 &&
      symbol.find_first_not_of("0123456789") == std::string::npos) {
    return std::stoll(symbol);
  }
  return -1;
}

std::string substitute_layer(const std::string& name, int64_t layer) {
  std::string out;
  const std::string idx = std::to_string(layer);
  for (size_t i = 0; i < name.size();) {
    if (name.compare(i, 3, "{i}") == 0) {
      out += idx;
      i += 3;
    } else {
      out += name[i++];
    }
  }
  return out;
}

void append(const std::vector<table_entry>& list, int64_t layer, const model_config& c,
            std::vector<expected_tensor>* out) {
  for (const table_entry& e : list) {
    expected_tensor t;
    t.name = layer < 0 ? e.name : substitute_layer(e.name, layer);
    t.kind = e.kind;
    for (const std::string& s : e.shape) t.shape.push_back(resolve(s, c));
    out->push_back(std::move(t));
  }
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool is_float(dtype t) { return t == dtype::f32 || t == dtype::f16 || t == dtype::bf16; }

// The Transformer baseline (kind transformer, random weights only): the global tensors without
// the shared KV's (kv_norm, kv.wk, kv.wv), then L = n_self + n_cross layers named "layers.{i}.",
// each a cross layer's tensors plus its own attn.wk / attn.wv [kv_dim, dim].
std::vector<expected_tensor> transformer_tensors(const tensor_table& t, const model_config& c) {
  std::vector<table_entry> global, layer;
  for (const table_entry& e : t.global)
    if (e.name.rfind("kv", 0) != 0) global.push_back(e);
  for (table_entry e : t.cross) {
    if (e.name.rfind("cross.", 0) == 0) e.name = "layers." + e.name.substr(6);
    const bool wq = e.name.ends_with(".attn.wq.weight");
    layer.push_back(e);
    if (!wq) continue;
    for (const char* w : {"wk", "wv"}) {
      table_entry kv = e;
      kv.name = "layers.{i}.attn." + std::string(w) + ".weight";
      kv.shape = {"kv_dim", "dim"};
      layer.push_back(std::move(kv));
    }
  }
  std::vector<expected_tensor> out;
  append(global, -1, c, &out);
  for (int64_t i = 0; i < c.n_layers(); ++i) append(layer, i, c, &out);
  return out;
}

}  // namespace

std::vector<expected_tensor> expected_tensors(const model_config& config) {
  const tensor_table& t = table();
  std::vector<expected_tensor> out;
  if (!t.problem.empty()) return out;
  if (config.is_transformer()) return transformer_tensors(t, config);
  append(t.global, -1, config, &out);
  const auto& kind_list = config.self_kind == self_decoder_kind::gated_retention
                              ? t.self_gated_retention
                              : t.self_sliding_window;
  for (int64_t i = 0; i < config.n_self_layers; ++i) {
    append(t.self_common, i, config, &out);
    append(kind_list, i, config, &out);
  }
  for (int64_t i = 0; i < config.n_cross_layers; ++i) append(t.cross, i, config, &out);
  return out;
}

status check_tensors(const safetensors_index& index, const model_config& config,
                     const std::string& source) {
  const std::string& src = source;
  if (!table().problem.empty()) {
    return error(src + ": internal error: engine/tensor_names.json: " + table().problem);
  }
  std::unordered_map<std::string, const tensor_view*> by_name;
  for (const tensor_view& t : index.tensors) by_name.emplace(t.name, &t);
  auto find = [&](const std::string& name) -> const tensor_view* {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : it->second;
  };

  std::unordered_set<std::string> allowed;
  std::unordered_set<std::string> float_tensors;  // not I8: their "_scale" is unexpected
  for (const expected_tensor& e : expected_tensors(config)) {
    const tensor_view* t = find(e.name);
    if (!t) return error(src + ": missing tensor '" + e.name + "'");
    if (t->shape != e.shape) {
      return error(src + ": tensor '" + e.name + "': expected shape " + shape_string(e.shape) +
                   ", found " + shape_string(t->shape));
    }
    allowed.insert(e.name);
    if (t->type != dtype::i8) {
      float_tensors.insert(e.name);
      continue;
    }
    if (e.kind == tensor_kind::norm) {
      return error(src + ": tensor '" + e.name +
                   "' is I8, but norm weights must be F32, F16 or BF16");
    }
    const std::string scale_name = e.name + "_scale";
    const tensor_view* s = find(scale_name);
    if (!s)
      return error(src + ": tensor '" + e.name + "' is I8 but its scale tensor '" + scale_name +
                   "' is missing");
    if (!is_float(s->type)) {
      return error(src + ": tensor '" + scale_name + "' must be F32, F16 or BF16, found " +
                   dtype_name(s->type));
    }
    const std::vector<int64_t> rows = {e.shape.empty() ? 1 : e.shape[0]};
    if (s->shape != rows) {
      return error(src + ": tensor '" + scale_name + "': expected shape " + shape_string(rows) +
                   ", found " + shape_string(s->shape));
    }
    allowed.insert(scale_name);
  }
  for (const tensor_view& t : index.tensors) {
    if (allowed.count(t.name)) continue;
    const std::string suffix = "_scale";
    if (t.name.size() > suffix.size() && t.name.ends_with(suffix)) {
      const std::string base = t.name.substr(0, t.name.size() - suffix.size());
      if (float_tensors.count(base)) {
        return error(src + ": unexpected tensor '" + t.name + "' ('" + base + "' is not I8)");
      }
    }
    return error(src + ": unexpected tensor '" + t.name + "'");
  }
  return {};
}

}  // namespace tome
