// The safetensors reader: header validation and tensor views into the byte image.
// Refused: a file under 8 bytes, a header length over 100 MB or past the end, a header that is
// not a JSON object (or has duplicate names), unknown dtypes or keys, negative / non-integer /
// overflowing shapes, offsets reversed, overlapping or past the end, a byte count that is not
// numel × dtype size. Allowed: bytes that no tensor covers (alignment padding between tensors or
// after the last one); the reference library is stricter there. Fuzzed (tests/fuzz).
#include "model/safetensors.h"

#include <algorithm>
#include <limits>

#include "util/json.h"

namespace tome {
namespace {

constexpr uint64_t k_max_header_bytes = 100'000'000;  // the reference implementation's limit
constexpr size_t k_max_rank = 8;

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// A JSON integer in [0, max]; nullopt-like false on anything else.
bool non_negative(const json& j, uint64_t max, uint64_t* out) {
  if (!j.is_number_integer()) return false;
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
  } else {
    const int64_t v = j.get<int64_t>();
    if (v < 0) return false;
    *out = static_cast<uint64_t>(v);
  }
  return *out <= max;
}

struct raw_entry {
  tensor_view view;
  uint64_t begin = 0, end = 0;
};

result<raw_entry> read_entry(const std::string& name, const json& j, const std::string& src) {
  const std::string where = src + ": tensor '" + name + "'";
  if (!j.is_object()) return error(where + ": entry must be an object, found " + describe_json(j));
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets") {
      return error(where + ": unknown key '" + it.key() + "'");
    }
  }
  raw_entry e;
  e.view.name = name;

  auto dt = j.find("dtype");
  if (dt == j.end()) return error(where + ": no 'dtype'");
  if (!dt->is_string())
    return error(where + ": 'dtype' must be a string, found " + describe_json(*dt));
  if (!dtype_from_name(dt->get_ref<const std::string&>(), &e.view.type)) {
    return error(where + ": unknown dtype " + describe_json(*dt) +
                 " (Tome reads F32, F16, BF16, I8)");
  }

  auto sh = j.find("shape");
  if (sh == j.end()) return error(where + ": no 'shape'");
  if (!sh->is_array())
    return error(where + ": 'shape' must be an array, found " + describe_json(*sh));
  if (sh->size() > k_max_rank)
    return error(where + ": shape has " + std::to_string(sh->size()) + " dimensions");
  uint64_t numel = 1;
  for (const json& d : *sh) {
    uint64_t v = 0;
    if (!non_negative(d, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), &v)) {
      return error(where + ": shape dimension " + describe_json(d) +
                   " is not a size (an integer from 0 to 2^63 - 1)");
    }
    e.view.shape.push_back(static_cast<int64_t>(v));
    if (__builtin_mul_overflow(numel, v, &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return error(where + ": shape " + describe_json(*sh) + " has too many elements");
    }
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(e.view.type)), &nbytes)) {
    return error(where + ": shape " + describe_json(*sh) + " has too many bytes");
  }

  auto off = j.find("data_offsets");
  if (off == j.end()) return error(where + ": no 'data_offsets'");
  if (!off->is_array() || off->size() != 2 ||
      !non_negative((*off)[0], std::numeric_limits<uint64_t>::max(), &e.begin) ||
      !non_negative((*off)[1], std::numeric_limits<uint64_t>::max(), &e.end)) {
    return error(where + ": 'data_offsets' must be [begin, end] with integers >= 0, found " +
                 describe_json(*off));
  }
  if (e.end < e.begin) {
    return error(where + ": data offsets out of order: begin " + std::to_string(e.begin) +
                 " > end " + std::to_string(e.end));
  }
  if (e.end - e.begin != nbytes) {
    return error(where + ": " + std::to_string(e.end - e.begin) + " bytes of data, but shape " +
                 shape_string(e.view.shape) + " of " + dtype_name(e.view.type) + " needs " +
                 std::to_string(nbytes));
  }
  e.view.nbytes = static_cast<size_t>(nbytes);
  return e;
}

}  // namespace

int64_t tensor_view::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // bounded at parse time (no overflow)
  return n;
}

const tensor_view* safetensors_index::find(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

result<safetensors_index> parse_safetensors(std::span<const uint8_t> bytes,
                                            const std::string& source) {
  const std::string& src = source;
  if (bytes.size() < 8) {
    return error(src + ": file is " + std::to_string(bytes.size()) +
                 " bytes, shorter than the 8-byte header length");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[static_cast<size_t>(i)];
  if (header_len > k_max_header_bytes) {
    return error(src + ": header length " + std::to_string(header_len) + " is absurd (over " +
                 std::to_string(k_max_header_bytes) + " bytes)");
  }
  if (header_len > bytes.size() - 8) {
    return error(src + ": header length " + std::to_string(header_len) +
                 " runs past the end of the file (" + std::to_string(bytes.size()) + " bytes)");
  }
  const auto* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
  std::string_view header_text(header_begin, static_cast<size_t>(header_len));
  result<json> parsed = error("");
  try {
    parsed = parse_json(header_text);
  } catch (const std::exception& e) {  // out of memory only
    return error(src + ": header: " + e.what());
  }
  if (!parsed) return error(src + ": header: " + parsed.message());
  const json& root = *parsed;
  if (!root.is_object())
    return error(src + ": header is not a JSON object, found " + describe_json(root));

  const std::span<const uint8_t> data = bytes.subspan(8 + static_cast<size_t>(header_len));
  safetensors_index index;
  std::vector<raw_entry> entries;
  try {
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (!it->is_object())
          return error(src + ": '__metadata__' must be an object, found " + describe_json(*it));
        for (auto m = it->begin(); m != it->end(); ++m) {
          if (!m->is_string()) {
            return error(src + ": '__metadata__' value of '" + m.key() +
                         "' must be a string, found " + describe_json(*m));
          }
          index.metadata[m.key()] = m->get<std::string>();
        }
        continue;
      }
      if (it.key().empty()) return error(src + ": a tensor has an empty name");
      auto e = read_entry(it.key(), *it, src);
      if (!e) return e.error_status();
      if (e->end > data.size()) {
        return error(src + ": tensor '" + it.key() + "': data offsets [" +
                     std::to_string(e->begin) + ", " + std::to_string(e->end) +
                     "] run past the end of the data (" + std::to_string(data.size()) + " bytes)");
      }
      entries.push_back(std::move(*e));
    }
  } catch (const std::exception& e) {  // out of memory only
    return error(src + ": header: " + e.what());
  }

  std::stable_sort(entries.begin(), entries.end(), [](const raw_entry& a, const raw_entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const raw_entry* prev = nullptr;  // the last non-empty tensor
  for (const raw_entry& e : entries) {
    if (e.end == e.begin) continue;  // empty tensors occupy no bytes
    if (prev && e.begin < prev->end) {
      return error(src + ": tensors '" + prev->view.name + "' and '" + e.view.name +
                   "' overlap (bytes [" + std::to_string(prev->begin) + ", " +
                   std::to_string(prev->end) + ") and [" + std::to_string(e.begin) + ", " +
                   std::to_string(e.end) + "))");
    }
    prev = &e;
  }
  index.tensors.reserve(entries.size());
  for (raw_entry& e : entries) {
    e.view.data = data.data() + e.begin;
    index.tensors.push_back(std::move(e.view));
  }
  return index;
}

result<std::unique_ptr<safetensors_file>> safetensors_file::open(
    const std::filesystem::path& path) {
  auto map = mmap_file::open(path);
  if (!map) return map.error_status();
  auto parsed = parse_safetensors(map->bytes(), path.string());
  if (!parsed) return parsed.error_status();
  auto file = std::make_unique<safetensors_file>();
  file->path_ = path;
  file->map_ = std::move(*map);  // the mapping's address does not change: the views stay valid
  file->index_ = std::move(*parsed);
  return file;
}

}  // namespace tome
