// config.json: parsing and validation of every rule in docs/model-format.md. Each refusal names
// the file and the field ("config.json: field 'n_heads' (6) must be divisible by 'n_kv_heads'
// (4)"). Besides the documented rules, sizes have sanity ceilings (k_limits below) so that a
// hostile file cannot make the loader allocate absurd tables. No exception escapes.
#include <algorithm>
#include <cmath>
#include <set>

#include "model/prompt_template.h"
#include "tome/model_config.h"
#include "util/json.h"
#include "util/mmap_file.h"

namespace tome {

const char* to_string(self_decoder_kind kind) {
  switch (kind) {
    case self_decoder_kind::gated_retention: return "gated_retention";
    case self_decoder_kind::sliding_window: return "sliding_window";
    case self_decoder_kind::transformer: return "transformer";
  }
  return "?";
}

namespace {

constexpr int64_t k_format_version = 1;
constexpr int64_t k_max_dim = int64_t{1} << 20;
constexpr int64_t k_max_layers = 1024;
constexpr int64_t k_max_ffn_dim = int64_t{1} << 22;
constexpr int64_t k_max_vocab = int64_t{1} << 24;
constexpr int64_t k_max_context = int64_t{1} << 40;
constexpr int64_t k_max_window = int64_t{1} << 30;

const std::set<std::string>& known_top_level_fields() {
  static const std::set<std::string> fields = {
      "format",        "format_version",    "name",         "dim",
      "n_self_layers", "n_cross_layers",    "n_self_heads", "n_heads",
      "n_kv_heads",    "ffn_dim",           "vocab_size",   "self_decoder",
      "rope_theta",    "norm_eps",          "max_context",  "special_tokens",
      "templates",     "file_header_every", "training",     "pointer_heads"};
  return fields;
}

// Reads fields of one JSON object, with messages "<src>: field '<prefix><key>' ...".
class field_reader {
 public:
  field_reader(const json& obj, const std::string& src, std::string prefix = {})
      : obj_(obj), src_(src), prefix_(std::move(prefix)) {}

  std::string name(const std::string& key) const { return "'" + prefix_ + key + "'"; }
  status fail(const std::string& what) const { return error(src_ + ": " + what); }
  bool has(const std::string& key) const { return obj_.contains(key); }

  result<const json*> get(const std::string& key) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return fail("missing field " + name(key));
    return &*it;
  }

  result<int64_t> integer(const std::string& key, int64_t min, int64_t max) const {
    auto v = get(key);
    if (!v) return v.error_status();
    const json& j = **v;
    if (!j.is_number_integer()) {
      return fail("field " + name(key) + " must be an integer, found " + describe_json(j));
    }
    // Unsigned values past int64 compare as "too large" without overflow.
    if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(max)) {
      return fail("field " + name(key) + " (" + describe_json(j) + ") must be at most " +
                  std::to_string(max));
    }
    const int64_t x = j.get<int64_t>();
    if (x < min) {
      return fail("field " + name(key) + " (" + std::to_string(x) + ") must be " +
                  (min == 1 ? std::string("> 0") : ">= " + std::to_string(min)));
    }
    if (x > max) {
      return fail("field " + name(key) + " (" + std::to_string(x) + ") must be at most " +
                  std::to_string(max));
    }
    return x;
  }

  // A finite number > 0 (integers accepted: "rope_theta": 10000).
  result<double> positive_number(const std::string& key) const {
    auto v = get(key);
    if (!v) return v.error_status();
    const json& j = **v;
    if (!j.is_number())
      return fail("field " + name(key) + " must be a number, found " + describe_json(j));
    const double x = j.get<double>();
    if (!std::isfinite(x) || x <= 0) {
      return fail("field " + name(key) + " (" + describe_json(j) + ") must be > 0");
    }
    return x;
  }

  result<std::string> string(const std::string& key) const {
    auto v = get(key);
    if (!v) return v.error_status();
    if (!(*v)->is_string()) {
      return fail("field " + name(key) + " must be a string, found " + describe_json(**v));
    }
    return (*v)->get<std::string>();
  }

  result<const json*> object(const std::string& key) const {
    auto v = get(key);
    if (!v) return v;
    if (!(*v)->is_object()) {
      return fail("field " + name(key) + " must be an object, found " + describe_json(**v));
    }
    return v;
  }

  status only_fields(const std::set<std::string>& allowed, const std::string& context) const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      if (!allowed.count(it.key())) return fail("unknown field " + name(it.key()) + context);
    }
    return {};
  }

 private:
  const json& obj_;
  const std::string& src_;
  std::string prefix_;
};

#define TOME_ASSIGN(lhs, expr)                   \
  do {                                           \
    auto tome_r_ = (expr);                       \
    if (!tome_r_) return tome_r_.error_status(); \
    lhs = std::move(*tome_r_);                   \
  } while (0)

status read_format(const field_reader& f) {
  std::string format;
  TOME_ASSIGN(format, f.string("format"));
  if (format != "tome-yoco") {
    return f.fail("field 'format' must be \"tome-yoco\", found " + describe_json(json(format)));
  }
  auto v = f.get("format_version");
  if (!v) return v.error_status();
  const json& j = **v;
  if (!j.is_number_integer()) {
    return f.fail("field 'format_version' must be an integer, found " + describe_json(j));
  }
  if (j.is_number_unsigned() ? j.get<uint64_t>() > static_cast<uint64_t>(k_format_version)
                             : j.get<int64_t>() > k_format_version) {
    return f.fail("format_version " + describe_json(j) +
                  " was made by a newer Tome (this build reads version " +
                  std::to_string(k_format_version) + ")");
  }
  if (j.get<int64_t>() < 1)
    return f.fail("field 'format_version' (" + describe_json(j) + ") must be >= 1");
  return {};
}

status read_sizes(const field_reader& f, model_config& c) {
  TOME_ASSIGN(c.dim, f.integer("dim", 1, k_max_dim));
  TOME_ASSIGN(c.n_self_layers, f.integer("n_self_layers", 1, k_max_layers));
  TOME_ASSIGN(c.n_cross_layers, f.integer("n_cross_layers", 1, k_max_layers));
  TOME_ASSIGN(c.n_self_heads, f.integer("n_self_heads", 1, k_max_dim));
  TOME_ASSIGN(c.n_heads, f.integer("n_heads", 1, k_max_dim));
  TOME_ASSIGN(c.n_kv_heads, f.integer("n_kv_heads", 1, k_max_dim));
  TOME_ASSIGN(c.ffn_dim, f.integer("ffn_dim", 1, k_max_ffn_dim));
  TOME_ASSIGN(c.vocab_size, f.integer("vocab_size", 1, k_max_vocab));

  auto divisible = [&](const char* a, int64_t x, const char* b, int64_t y) -> status {
    if (x % y != 0) {
      return f.fail("field '" + std::string(a) + "' (" + std::to_string(x) +
                    ") must be divisible by '" + b + "' (" + std::to_string(y) + ")");
    }
    return {};
  };
  TOME_TRY(divisible("dim", c.dim, "n_self_heads", c.n_self_heads));
  if (c.self_head_dim() % 2 != 0) {
    return f.fail("self head dim 'dim' / 'n_self_heads' (" + std::to_string(c.dim) + " / " +
                  std::to_string(c.n_self_heads) + " = " + std::to_string(c.self_head_dim()) +
                  ") must be even (RoPE pairs)");
  }
  TOME_TRY(divisible("dim", c.dim, "n_heads", c.n_heads));
  if (c.head_dim() % 2 != 0) {
    return f.fail("cross head dim 'dim' / 'n_heads' (" + std::to_string(c.dim) + " / " +
                  std::to_string(c.n_heads) + " = " + std::to_string(c.head_dim()) +
                  ") must be even (RoPE pairs)");
  }
  TOME_TRY(divisible("n_heads", c.n_heads, "n_kv_heads", c.n_kv_heads));
  return {};
}

status read_self_decoder(const field_reader& top, const std::string& src, model_config& c) {
  const json* obj = nullptr;
  TOME_ASSIGN(obj, top.object("self_decoder"));
  field_reader f(*obj, src, "self_decoder.");
  std::string kind;
  TOME_ASSIGN(kind, f.string("kind"));
  if (kind == "gated_retention") {
    c.self_kind = self_decoder_kind::gated_retention;
    TOME_TRY(f.only_fields({"kind", "gate_temperature"}, " for kind 'gated_retention'"));
    TOME_ASSIGN(c.retention_gate_temperature, f.positive_number("gate_temperature"));
  } else if (kind == "sliding_window") {
    c.self_kind = self_decoder_kind::sliding_window;
    TOME_TRY(f.only_fields({"kind", "window"}, " for kind 'sliding_window'"));
    TOME_ASSIGN(c.window, f.integer("window", 1, k_max_window));
  } else if (kind == "transformer") {
    return f.fail(
        "field 'self_decoder.kind': \"transformer\" is the Transformer baseline of tome bench, "
        "available only as built-in configurations with random weights (--config transformer-3b "
        "--random-weights); a model directory holds a YOCO model");
  } else {
    return f.fail(
        "field 'self_decoder.kind' must be \"gated_retention\" or \"sliding_window\", found " +
        describe_json(json(kind)));
  }
  return {};
}

status read_special_tokens(const field_reader& top, const std::string& src, model_config& c) {
  const json* obj = nullptr;
  TOME_ASSIGN(obj, top.object("special_tokens"));
  std::map<std::string, std::string> role_of_piece;
  std::map<int32_t, std::string> role_of_id;
  for (auto it = obj->begin(); it != obj->end(); ++it) {
    const std::string& role = it.key();
    const std::string prefix = "special_tokens." + role + ".";
    if (role.empty()) return top.fail("special token with an empty role name");
    if (!it->is_object()) {
      return top.fail("field 'special_tokens." + role +
                      "' must be {\"id\": …, \"piece\": …}, found " + describe_json(*it));
    }
    field_reader f(*it, src, prefix);
    TOME_TRY(f.only_fields({"id", "piece"}, ""));
    special_token tok;
    int64_t id = 0;
    TOME_ASSIGN(id, f.integer("id", 0, k_max_vocab));
    if (id >= c.vocab_size) {
      return f.fail("field " + f.name("id") + " (" + std::to_string(id) +
                    ") must be < 'vocab_size' (" + std::to_string(c.vocab_size) + ")");
    }
    tok.id = static_cast<int32_t>(id);
    TOME_ASSIGN(tok.piece, f.string("piece"));
    if (tok.piece.empty()) return f.fail("field " + f.name("piece") + " must not be empty");
    if (tok.piece.find_first_of("{}") != std::string::npos) {
      return f.fail("field " + f.name("piece") + " (" + describe_json(json(tok.piece)) +
                    ") must not contain '{' or '}' (they delimit template placeholders)");
    }
    auto [p, new_piece] = role_of_piece.emplace(tok.piece, role);
    if (!new_piece && c.special_tokens[p->second].id != tok.id) {
      return top.fail("special tokens '" + p->second + "' and '" + role + "' share the piece " +
                      describe_json(json(tok.piece)) + " but not the id");
    }
    auto [q, new_id] = role_of_id.emplace(tok.id, role);
    if (!new_id && c.special_tokens[q->second].piece != tok.piece) {
      return top.fail("special tokens '" + q->second + "' and '" + role + "' share the id " +
                      std::to_string(tok.id) + " but not the piece");
    }
    c.special_tokens[role] = std::move(tok);
  }
  if (!c.special_tokens.count("eos"))
    return top.fail("field 'special_tokens' has no 'eos' (required)");
  return {};
}

status read_templates(const field_reader& top, const std::string& src, model_config& c) {
  const json* obj = nullptr;
  TOME_ASSIGN(obj, top.object("templates"));
  for (auto it = obj->begin(); it != obj->end(); ++it) {
    if (!it->is_string()) {
      return top.fail("field 'templates." + it.key() + "' must be a string, found " +
                      describe_json(*it));
    }
    const std::string& text = it->get_ref<const std::string&>();
    auto parsed = parse_template(text, c.special_tokens, src + ": template '" + it.key() + "'");
    if (!parsed) return parsed.error_status();
    c.templates[it.key()] = text;
  }
  return {};
}

// "pointer_heads": [[layer, head], ...], each a cross-decoder layer and a query head, no repeats.
status read_pointer_heads(const field_reader& f, model_config& c) {
  auto v = f.get("pointer_heads");
  if (!v) return v.error_status();
  const json& a = **v;
  if (!a.is_array()) return f.fail("field 'pointer_heads' must be an array of [layer, head] pairs, found " + describe_json(a));
  for (size_t i = 0; i < a.size(); ++i) {
    const json& e = a[i];
    const std::string at = "'pointer_heads[" + std::to_string(i) + "]'";
    if (!e.is_array() || e.size() != 2 || !e[0].is_number_integer() || !e[1].is_number_integer())
      return f.fail("field " + at + " must be a [layer, head] pair of integers, found " + describe_json(e));
    const int64_t layer = e[0].get<int64_t>(), head = e[1].get<int64_t>();
    if (layer < 0 || layer >= c.n_cross_layers)
      return f.fail("field " + at + ": layer " + std::to_string(layer) + " is not a cross-decoder layer (0.." +
                    std::to_string(c.n_cross_layers - 1) + ")");
    if (head < 0 || head >= c.n_heads)
      return f.fail("field " + at + ": head " + std::to_string(head) + " is not a head (0.." +
                    std::to_string(c.n_heads - 1) + ")");
    const attention_head h{static_cast<int32_t>(layer), static_cast<int32_t>(head)};
    if (std::find(c.pointer_heads.begin(), c.pointer_heads.end(), h) != c.pointer_heads.end())
      return f.fail("field " + at + " repeats a head");
    c.pointer_heads.push_back(h);
  }
  return {};
}

result<model_config> parse_checked(const std::string& json_text, const std::string& src) {
  auto parsed = parse_json(json_text);
  if (!parsed) return parsed.error_status().with_context(src);
  const json& root = *parsed;
  if (!root.is_object())
    return error(src + ": expected a JSON object at the top level, found " + describe_json(root));
  field_reader f(root, src);
  TOME_TRY(read_format(f));
  TOME_TRY(f.only_fields(known_top_level_fields(), ""));

  model_config c;
  if (f.has("name")) TOME_ASSIGN(c.name, f.string("name"));
  TOME_TRY(read_sizes(f, c));
  TOME_TRY(read_self_decoder(f, src, c));
  TOME_ASSIGN(c.rope_theta, f.positive_number("rope_theta"));
  TOME_ASSIGN(c.norm_eps, f.positive_number("norm_eps"));
  TOME_ASSIGN(c.max_context, f.integer("max_context", 1, k_max_context));
  TOME_TRY(read_special_tokens(f, src, c));
  TOME_TRY(read_templates(f, src, c));
  if (f.has("file_header_every"))
    TOME_ASSIGN(c.file_header_every, f.integer("file_header_every", 0, k_max_context));
  if (f.has("pointer_heads")) TOME_TRY(read_pointer_heads(f, c));
  return c;
}

}  // namespace

result<model_config> parse_model_config(const std::string& json_text, const std::string& source) {
  try {
    return parse_checked(json_text, source);
  } catch (const std::exception& e) {  // out of memory; nothing on bad input is expected here
    return error(source + ": " + e.what());
  }
}

result<model_config> load_model_config(const std::filesystem::path& path) {
  auto file = mmap_file::open(path);  // errors name the path: missing, a directory …
  if (!file) return file.error_status();
  const auto bytes = file->bytes();
  return parse_model_config(std::string(bytes.begin(), bytes.end()), path.string());
}

}  // namespace tome
