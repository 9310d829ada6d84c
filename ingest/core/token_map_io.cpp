// The token map's byte image (token_map.h): little-endian, versioned, XXH3-checksummed. parse()
// treats its input as hostile: every length is checked against what is left, every field
// against the invariants the lookups rely on. A libFuzzer target drives it.
//
//   "TOMEIMAP"  u32 version (1)  u32 flags (bit 0: exact)  u64 segment count
//   per segment: u64 tokens  u8 kind  i32 page  i32 line_begin  i32 line_end
//                str file  str title  str language  u32 n  n x u32 line_token
//   u64 XXH3-64 of every byte before it
//   str = u32 length + UTF-8 bytes (at most 1 MiB)
#include <xxhash.h>

#include <cstring>

#include "core/utf8.h"
#include "tome/ingest/token_map.h"

namespace tome::ingest {

namespace {

constexpr char k_magic[8] = {'T', 'O', 'M', 'E', 'I', 'M', 'A', 'P'};
constexpr uint32_t k_version = 1;
constexpr uint32_t k_max_string = 1u << 20;

void put(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put(out, s.size(), 4);
  out.insert(out.end(), s.begin(), s.end());
}

class reader {
 public:
  explicit reader(std::span<const uint8_t> b) : b_(b) {}
  bool get(uint64_t& v, int bytes) {
    if (left() < static_cast<size_t>(bytes)) return false;
    v = 0;
    for (int i = 0; i < bytes; ++i)
      v |= static_cast<uint64_t>(b_[pos_ + static_cast<size_t>(i)]) << (8 * i);
    pos_ += static_cast<size_t>(bytes);
    return true;
  }
  bool get_i32(int32_t& v) {
    uint64_t u;
    if (!get(u, 4)) return false;
    v = static_cast<int32_t>(static_cast<uint32_t>(u));
    return true;
  }
  bool get_string(std::string& s) {
    uint64_t n;
    if (!get(n, 4) || n > k_max_string || left() < n) return false;
    s.assign(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return detail::valid_utf8(s);
  }
  size_t left() const { return b_.size() - pos_; }
  size_t pos() const { return pos_; }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<uint8_t> token_map::serialize() const {
  std::vector<uint8_t> out(k_magic, k_magic + 8);
  put(out, k_version, 4);
  put(out, exact_ ? 1 : 0, 4);
  put(out, segments_.size(), 8);
  for (const segment_entry& s : segments_) {
    put(out, s.token_end - s.token_begin, 8);
    put(out, static_cast<uint8_t>(s.kind), 1);
    put(out, static_cast<uint32_t>(s.source.page), 4);
    put(out, static_cast<uint32_t>(s.source.line_begin), 4);
    put(out, static_cast<uint32_t>(s.source.line_end), 4);
    put_string(out, s.source.file);
    put_string(out, s.source.title);
    put_string(out, s.source.language);
    put(out, s.line_token.size(), 4);
    for (const uint32_t t : s.line_token) put(out, t, 4);
  }
  put(out, XXH3_64bits(out.data(), out.size()), 8);
  return out;
}

result<token_map> token_map::parse(std::span<const uint8_t> bytes) {
  const auto bad = [](const std::string& why) { return error("token map: " + why); };
  if (bytes.size() < 8 + 4 + 4 + 8 + 8) return bad("truncated (too short)");
  if (std::memcmp(bytes.data(), k_magic, 8) != 0) return bad("not a token map (bad magic)");
  const size_t body = bytes.size() - 8;
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i)
    stored |= static_cast<uint64_t>(bytes[body + static_cast<size_t>(i)]) << (8 * i);
  if (XXH3_64bits(bytes.data(), body) != stored) return bad("checksum mismatch (corrupt)");
  reader r(bytes.subspan(0, body));
  uint64_t magic, version, flags, count;
  r.get(magic, 8);
  r.get(version, 4);
  r.get(flags, 4);
  r.get(count, 8);
  if (version != k_version)
    return bad("version " + std::to_string(version) + " (this build reads 1)");
  if (flags > 1) return bad("unknown flags");
  // A segment takes at least 8+1+12+12+4 bytes: the count cannot exceed what is left.
  if (count > r.left() / 37) return bad("segment count larger than the data");
  token_map m;
  m.exact_ = flags & 1;
  m.segments_.reserve(count);
  uint64_t at = 0;
  for (uint64_t i = 0; i < count; ++i) {
    segment_entry s;
    uint64_t tokens, kind, n;
    if (!r.get(tokens, 8) || !r.get(kind, 1) || !r.get_i32(s.source.page) ||
        !r.get_i32(s.source.line_begin) || !r.get_i32(s.source.line_end) ||
        !r.get_string(s.source.file) || !r.get_string(s.source.title) ||
        !r.get_string(s.source.language) || !r.get(n, 4)) {
      return bad("truncated or invalid segment " + std::to_string(i));
    }
    if (kind > 1) return bad("segment " + std::to_string(i) + ": unknown kind");
    if (tokens > UINT32_MAX || at + tokens < at)
      return bad("segment " + std::to_string(i) + ": token count");
    s.kind = static_cast<segment_kind>(kind);
    if (s.source.page < 0 || s.source.line_begin < 0 || s.source.line_end < 0) {
      return bad("segment " + std::to_string(i) + ": negative page or line");
    }
    const bool lines = s.source.line_begin > 0;
    if (!lines && (s.source.line_end != 0 || n != 0))
      return bad("segment " + std::to_string(i) + ": line range");
    if (lines && (s.kind != segment_kind::content || s.source.line_end < s.source.line_begin ||
                  n != static_cast<uint64_t>(s.source.line_end - s.source.line_begin) + 1)) {
      return bad("segment " + std::to_string(i) + ": line range");
    }
    if (n > r.left() / 4) return bad("segment " + std::to_string(i) + ": truncated line table");
    s.line_token.resize(n);
    for (uint64_t k = 0; k < n; ++k) {
      uint64_t t = 0;
      if (!r.get(t, 4)) return bad("segment " + std::to_string(i) + ": truncated line table");
      const bool ordered = k == 0 ? t == 0 : t >= s.line_token[k - 1];
      if (!ordered || (tokens > 0 ? t >= tokens : t != 0)) {
        return bad("segment " + std::to_string(i) + ": line table out of order or range");
      }
      s.line_token[k] = static_cast<uint32_t>(t);
    }
    s.token_begin = at;
    s.token_end = at + tokens;
    at = s.token_end;
    m.segments_.push_back(std::move(s));
  }
  if (r.left() != 0) return bad("trailing bytes");
  return m;
}

}  // namespace tome::ingest
