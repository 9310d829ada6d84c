// tome::tokenizer on SentencePiece, and the streaming detokenizer.
// Loading clears normalizer_spec.add_dummy_prefix in the model's protobuf before SentencePiece
// sees it, so encode() adds no leading "▁" (templates join cleanly, decode is exact). Decoding is
// ours, from a per-id byte table: "▁" → space, <0xNN> → one byte, specials → nothing; the bytes
// are then made well-formed UTF-8 (util/utf8.h), the same way whole or streamed.
#include "tome/tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <string_view>

#include "model/prompt_template.h"
#include "util/mmap_file.h"
#include "util/utf8.h"

namespace tome {
namespace {

constexpr std::string_view k_replacement = "\xEF\xBF\xBD";
constexpr std::string_view k_space_symbol = "\xE2\x96\x81";  // U+2581 "▁"

// --- Just enough protobuf wire format to rewrite one bool of a SentencePiece ModelProto. ---

bool read_varint(std::string_view s, size_t* i, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && *i < s.size(); shift += 7) {
    const auto b = static_cast<uint8_t>(s[(*i)++]);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (b < 0x80) return true;
  }
  return false;
}

void write_varint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Walks the fields of one message: calls f(field, wire_type, whole_field_bytes, payload) for
// each; false on malformed input.
template <class F>
bool for_each_field(std::string_view msg, F&& f) {
  size_t i = 0;
  while (i < msg.size()) {
    const size_t start = i;
    uint64_t key = 0, v = 0;
    if (!read_varint(msg, &i, &key)) return false;
    const auto wire = static_cast<int>(key & 7);
    std::string_view payload;
    switch (wire) {
      case 0:
        if (!read_varint(msg, &i, &v)) return false;
        break;
      case 1:
      case 5: {
        const size_t n = wire == 1 ? 8 : 4;
        if (msg.size() - i < n) return false;
        i += n;
        break;
      }
      case 2:
        if (!read_varint(msg, &i, &v) || v > msg.size() - i) return false;
        payload = msg.substr(i, static_cast<size_t>(v));
        i += static_cast<size_t>(v);
        break;
      default: return false;  // groups (3, 4) are not used by sentencepiece_model.proto
    }
    f(key >> 3, wire, msg.substr(start, i - start), payload);
  }
  return true;
}

// ModelProto.normalizer_spec (field 3) . add_dummy_prefix (field 3) := false.
bool clear_dummy_prefix(std::string_view model, std::string* out) {
  bool has_spec = false, ok = true;
  out->clear();
  ok = for_each_field(
           model,
           [&](uint64_t field, int wire, std::string_view whole, std::string_view payload) {
             if (field != 3 || wire != 2) {
               out->append(whole);
               return;
             }
             has_spec = true;
             std::string spec;
             ok = ok && for_each_field(payload,
                                       [&](uint64_t f, int, std::string_view w, std::string_view) {
                                         if (f != 3) spec.append(w);
                                       });
             spec.append("\x18\x00", 2);  // field 3, varint 0
             out->push_back('\x1a');      // field 3, length-delimited
             write_varint(spec.size(), out);
             out->append(spec);
           }) &&
       ok;
  if (!has_spec) out->append("\x1a\x02\x18\x00", 4);
  return ok;
}

}  // namespace

struct tokenizer::impl {
  sentencepiece::SentencePieceProcessor sp;
  std::vector<std::string> bytes;                // per id: what decode emits
  std::vector<bool> special;                     // per id
  int32_t space_symbol_bytes[3] = {-1, -1, -1};  // byte-fallback ids of E2 96 81 ("▁"), if any
};

tokenizer::tokenizer() : impl_(std::make_unique<impl>()) {}
tokenizer::~tokenizer() = default;

result<std::unique_ptr<tokenizer>> tokenizer::load(const std::filesystem::path& path,
                                                   const model_config& config) {
  const std::string src = path.string();
  auto file = mmap_file::open(path);
  if (!file) return file.error_status();
  const auto raw = file->bytes();
  std::string proto;
  if (!clear_dummy_prefix(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()),
                          &proto)) {
    return error(src + ": not a SentencePiece model (malformed protobuf)");
  }
  std::unique_ptr<tokenizer> tok(new tokenizer());
  impl& m = *tok->impl_;
  const auto st = m.sp.LoadFromSerializedProto(proto);
  if (!st.ok()) return error(src + ": not a SentencePiece model: " + st.ToString());

  const int n = m.sp.GetPieceSize();
  if (n != config.vocab_size) {
    return error(src + ": the vocabulary has " + std::to_string(n) +
                 " pieces, but the config's vocab_size is " + std::to_string(config.vocab_size));
  }
  for (const auto& [role, t] : config.special_tokens) {
    if (t.id < 0 || t.id >= n) {
      return error(src + ": special token '" + role + "' has id " + std::to_string(t.id) +
                   ", outside the vocabulary");
    }
    const std::string here = m.sp.IdToPiece(t.id);
    if (here != t.piece) {
      return error(src + ": special token '" + role + "' (id " + std::to_string(t.id) +
                   "): the piece there is '" + here + "', the config says '" + t.piece + "'");
    }
    if (!m.sp.IsControl(t.id) && !m.sp.IsUnknown(t.id)) {
      return error(src + ": special token '" + role + "' ('" + t.piece + "', id " +
                   std::to_string(t.id) +
                   ") is not a control symbol, so plain text could produce it (train with "
                   "--control_symbols)");
    }
  }

  m.bytes.resize(static_cast<size_t>(n));
  m.special.assign(static_cast<size_t>(n), false);
  for (int id = 0; id < n; ++id) {
    const auto i = static_cast<size_t>(id);
    if (m.sp.IsControl(id) || m.sp.IsUnknown(id)) {
      m.special[i] = true;
      continue;
    }
    std::string piece = m.sp.IdToPiece(id);
    unsigned byte = 0;
    if (m.sp.IsByte(id) && piece.size() == 6 && std::sscanf(piece.c_str(), "<0x%2X>", &byte) == 1) {
      m.bytes[i] = std::string(1, static_cast<char>(byte));
      continue;
    }
    std::string text;
    for (size_t k = 0; k < piece.size();) {
      if (piece.compare(k, k_space_symbol.size(), k_space_symbol) == 0) {
        text.push_back(' ');
        k += k_space_symbol.size();
      } else {
        text.push_back(piece[k++]);
      }
    }
    m.bytes[i] = std::move(text);
  }
  for (int k = 0; k < 3; ++k) {
    char piece[8];
    std::snprintf(piece, sizeof piece, "<0x%02X>",
                  static_cast<uint8_t>(k_space_symbol[static_cast<size_t>(k)]));
    const int id = m.sp.PieceToId(piece);
    if (m.sp.IsByte(id)) m.space_symbol_bytes[k] = id;
  }
  for (const auto& [role, t] : config.special_tokens) {
    m.special[static_cast<size_t>(t.id)] = true;
    m.bytes[static_cast<size_t>(t.id)].clear();
  }
  tok->config_ = config;
  return tok;
}

int32_t tokenizer::vocab_size() const { return impl_->sp.GetPieceSize(); }

// SentencePiece reads a literal "▁" (U+2581) in text as its own space symbol, so it would come
// back as a space. With byte fallback we keep text exact: the text is split at each literal "▁",
// which is emitted as its three byte tokens.
std::vector<int32_t> tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  std::vector<int> ids;
  auto encode_part = [&](std::string_view part) {
    if (part.empty()) return;
    ids.clear();
    if (impl_->sp.Encode(part, &ids).ok()) out.insert(out.end(), ids.begin(), ids.end());
  };
  const bool exact = impl_->space_symbol_bytes[0] >= 0 && impl_->space_symbol_bytes[1] >= 0 &&
                     impl_->space_symbol_bytes[2] >= 0;
  size_t from = 0;
  for (size_t at; exact && (at = text.find(k_space_symbol, from)) != std::string_view::npos;
       from = at + k_space_symbol.size()) {
    encode_part(text.substr(from, at - from));
    out.insert(out.end(), std::begin(impl_->space_symbol_bytes),
               std::end(impl_->space_symbol_bytes));
  }
  encode_part(text.substr(from));
  return out;
}

result<std::vector<int32_t>> tokenizer::encode_template(
    const std::string& name, const std::map<std::string, std::string>& vars) const {
  auto it = config_.templates.find(name);
  if (it == config_.templates.end()) return error("unknown template '" + name + "'");
  const std::string where = "template '" + name + "'";
  auto segments = parse_template(it->second, config_.special_tokens, where);
  if (!segments) return segments.error_status();
  std::vector<int32_t> ids;
  std::string run;  // literal text and placeholder values between two special tokens
  auto flush = [&] {
    const auto part = encode(run);
    ids.insert(ids.end(), part.begin(), part.end());
    run.clear();
  };
  for (const template_segment& s : *segments) {
    switch (s.type) {
      case template_segment::kind::text: run += s.text; break;
      case template_segment::kind::placeholder: {
        auto v = vars.find(s.text);
        if (v == vars.end()) return error(where + ": no value for placeholder '{" + s.text + "}'");
        run += v->second;
        break;
      }
      case template_segment::kind::special:
        flush();
        ids.push_back(s.id);
        break;
    }
  }
  flush();
  return ids;
}

result<std::vector<int32_t>> tokenizer::encode_file(const std::string& path,
                                                    const std::string& text) const {
  auto ids = encode_template("file", {{"path", path}, {"text", text}});
  if (!ids) return ids.error_status();
  const int64_t every = config_.file_header_every;
  if (every <= 0) return ids;
  auto ends_line = [this](int32_t id) {
    const std::string_view b = token_bytes(id);
    return !b.empty() && b.back() == '\n';
  };
  const auto first_end = std::find_if(ids->begin(), ids->end(), ends_line);
  if (first_end == ids->end()) return ids;
  const std::vector<int32_t> header(ids->begin(), first_end + 1);
  std::vector<int32_t> out = header;
  int64_t run = 0;
  for (auto it = first_end + 1; it != ids->end(); ++it) {
    out.push_back(*it);
    if (++run >= every && ends_line(*it) && it + 1 != ids->end()) {
      out.insert(out.end(), header.begin(), header.end());
      run = 0;
    }
  }
  return out;
}

std::string_view tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(impl_->bytes.size())) return k_replacement;
  return impl_->bytes[static_cast<size_t>(id)];
}

std::string tokenizer::decode(std::span<const int32_t> ids) const {
  std::string bytes;
  for (int32_t id : ids) bytes.append(token_bytes(id));
  return valid_utf8(bytes);
}

std::string tokenizer::piece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return impl_->sp.IdToPiece(id);
}

bool tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < static_cast<int32_t>(impl_->special.size()) &&
         impl_->special[static_cast<size_t>(id)];
}

// ids_ holds the ids whose bytes are not all emitted yet; emitted_bytes_ counts how many of
// their bytes are. A byte-fallback character spans at most 4 ids, so this stays tiny.
std::string detokenizer::push(int32_t id) {
  ids_.push_back(id);
  std::string bytes;
  for (int32_t i : ids_) bytes.append(tok_.token_bytes(i));
  std::string out;
  const size_t stop = append_valid_utf8(bytes, emitted_bytes_, /*final=*/false, &out);
  if (stop == bytes.size()) {
    ids_.clear();
    emitted_bytes_ = 0;
  } else {
    emitted_bytes_ = stop;
  }
  return out;
}

std::string detokenizer::flush() {
  std::string bytes;
  for (int32_t i : ids_) bytes.append(tok_.token_bytes(i));
  std::string out;
  append_valid_utf8(bytes, emitted_bytes_, /*final=*/true, &out);
  ids_.clear();
  emitted_bytes_ = 0;
  return out;
}

}  // namespace tome
