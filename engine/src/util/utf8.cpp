// append_valid_utf8: a table-free decoder of the well-formed byte sequences of Unicode 15,
// table 3-7 (no overlongs, no surrogates, nothing past U+10FFFF). Bytes are copied, not
// re-encoded; only ill-formed subsequences are replaced.
#include "util/utf8.h"

#include <cstdint>

namespace tome {
namespace {

constexpr std::string_view k_replacement = "\xEF\xBF\xBD";

// Sequence length for a lead byte (0 = never valid) and the allowed range of the second byte.
int lead_info(uint8_t b, uint8_t* lo, uint8_t* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (b < 0x80) return 1;
  if (b < 0xC2) return 0;  // continuation byte or overlong 2-byte lead
  if (b < 0xE0) return 2;
  if (b < 0xF0) {
    if (b == 0xE0) *lo = 0xA0;  // no overlongs
    if (b == 0xED) *hi = 0x9F;  // no surrogates
    return 3;
  }
  if (b < 0xF5) {
    if (b == 0xF0) *lo = 0x90;  // no overlongs
    if (b == 0xF4) *hi = 0x8F;  // nothing past U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

size_t append_valid_utf8(std::string_view bytes, size_t from, bool final, std::string* out) {
  size_t i = from;
  while (i < bytes.size()) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    uint8_t lo = 0, hi = 0;
    const int n = lead_info(b, &lo, &hi);
    if (n == 0) {
      out->append(k_replacement);
      ++i;
      continue;
    }
    int good = 1;  // bytes of the sequence checked so far
    while (good < n && i + good < bytes.size()) {
      const auto c = static_cast<uint8_t>(bytes[i + good]);
      const uint8_t l = good == 1 ? lo : 0x80, h = good == 1 ? hi : 0xBF;
      if (c < l || c > h) break;
      ++good;
    }
    if (good == n) {
      out->append(bytes.substr(i, n));
      i += n;
    } else if (i + good >= bytes.size()) {  // ran out of bytes: incomplete, not (yet) invalid
      if (!final) return i;
      out->append(k_replacement);
      i = bytes.size();
    } else {  // a byte that cannot continue this sequence: replace the maximal subpart
      out->append(k_replacement);
      i += good;
    }
  }
  return i;
}

}  // namespace tome
