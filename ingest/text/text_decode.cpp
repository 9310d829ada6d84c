// Bytes of unknown encoding to UTF-8 (text_decode.h): BOM, UTF-16 sniffing, UTF-8 validation and
// repair, uchardet + iconv for legacy encodings.
#include "text/text_decode.h"

#include <iconv.h>
#include <uchardet/uchardet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/utf8.h"

namespace tome::ingest::detail {

namespace {

constexpr size_t k_sniff_bytes = 8000;

// "UTF-16LE"/"UTF-16BE" when the first bytes look like UTF-16 text without a BOM (mostly ASCII:
// every other byte zero), else "".
const char* utf16_without_bom(std::string_view b) {
  const size_t n = std::min(b.size(), k_sniff_bytes) & ~size_t{1};
  if (n < 8) return "";
  size_t zero_even = 0, zero_odd = 0;
  for (size_t i = 0; i < n; i += 2) {
    zero_even += b[i] == 0;
    zero_odd += b[i + 1] == 0;
  }
  const size_t pairs = n / 2;
  if (zero_odd * 10 >= pairs * 7 && zero_even * 20 <= pairs) return "UTF-16LE";
  if (zero_even * 10 >= pairs * 7 && zero_odd * 20 <= pairs) return "UTF-16BE";
  return "";
}

// iconv_open/iconv_close load and unload glibc's gconv modules (dlopen/dlclose): one thread at a
// time, so that repository reader threads never race in the dynamic loader. Conversions run in
// parallel, each on its own descriptor.
std::mutex g_iconv_mutex;

// Converts with iconv; false on any invalid or incomplete input.
bool convert(std::string_view in, const char* from, std::string& out) {
  iconv_t cd;
  {
    std::lock_guard<std::mutex> lock(g_iconv_mutex);
    cd = iconv_open("UTF-8", from);
  }
  if (cd == reinterpret_cast<iconv_t>(-1)) return false;
  out.clear();
  out.resize(in.size() * 2 + 16);
  char* src = const_cast<char*>(in.data());
  size_t src_left = in.size();
  size_t used = 0;
  bool ok = true;
  while (src_left > 0) {
    char* dst = out.data() + used;
    size_t dst_left = out.size() - used;
    const size_t r = iconv(cd, &src, &src_left, &dst, &dst_left);
    used = out.size() - dst_left;
    if (r == static_cast<size_t>(-1)) {
      if (errno == E2BIG) {
        out.resize(out.size() * 2);
        continue;
      }
      ok = false;  // EILSEQ or EINVAL
      break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(g_iconv_mutex);
    iconv_close(cd);
  }
  out.resize(used);
  return ok && valid_utf8(out);
}

// uchardet's guess for the whole input ("" if none).
std::string detect_charset(std::string_view b) {
  std::unique_ptr<std::remove_pointer_t<uchardet_t>, void (*)(uchardet_t)> ud(uchardet_new(),
                                                                              uchardet_delete);
  if (!ud) return "";
  // uchardet is slow on huge inputs and gains nothing from them: 1 MiB is plenty.
  const size_t n = std::min<size_t>(b.size(), 1 << 20);
  if (uchardet_handle_data(ud.get(), b.data(), n) != 0) return "";
  uchardet_data_end(ud.get());
  const char* cs = uchardet_get_charset(ud.get());
  return cs ? cs : "";
}

// Valid multi-byte sequences and invalid positions, to tell damaged UTF-8 from another encoding.
void utf8_census(std::string_view s, size_t& multibyte, size_t& invalid) {
  multibyte = invalid = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_sequence_length(s, i);
    if (len == 0) {
      ++invalid;
      ++i;
    } else {
      multibyte += len > 1;
      i += len;
    }
  }
}

result<decoded_text> finish(decoded_text d) {
  normalize_newlines(d.text);
  return d;
}

}  // namespace

std::string binary_evidence(std::string_view bytes) {
  const std::string_view head = bytes.substr(0, k_sniff_bytes);
  if (*utf16_without_bom(bytes)) return "";
  size_t controls = 0;
  for (const char ch : head) {
    const auto c = static_cast<uint8_t>(ch);
    if (c == 0) return "NUL bytes";
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1B)
      ++controls;
  }
  if (head.size() >= 32 && controls * 10 > head.size()) return "control characters";
  return "";
}

result<decoded_text> decode_text(std::string_view bytes) {
  decoded_text d;
  const auto starts = [&](std::string_view p) { return bytes.substr(0, p.size()) == p; };
  // Byte-order marks (UTF-32 before UTF-16: FF FE 00 00 starts with FF FE).
  struct bom {
    std::string_view bytes;
    const char* encoding;
  };
  static const bom k_boms[] = {{{"\xFF\xFE\x00\x00", 4}, "UTF-32LE"},
                               {{"\x00\x00\xFE\xFF", 4}, "UTF-32BE"},
                               {{"\xFF\xFE", 2}, "UTF-16LE"},
                               {{"\xFE\xFF", 2}, "UTF-16BE"}};
  for (const bom& b : k_boms) {
    if (!starts(b.bytes)) continue;
    d.encoding = b.encoding;
    std::string out;
    if (convert(bytes.substr(b.bytes.size()), b.encoding, out)) {
      d.text = std::move(out);
      return finish(std::move(d));
    }
    break;  // a BOM over broken data: fall through to the checks below
  }
  if (const char* u16 = utf16_without_bom(bytes); *u16) {
    std::string out;
    if (convert(bytes, u16, out)) {
      d.encoding = u16;
      d.detected = true;
      d.text = std::move(out);
      return finish(std::move(d));
    }
  }
  if (starts("\xEF\xBB\xBF")) bytes.remove_prefix(3);
  if (const std::string why = binary_evidence(bytes); !why.empty()) {
    return error("binary data (" + why + "), not text");
  }
  if (valid_utf8(bytes)) {
    d.encoding = "UTF-8";
    d.text.assign(bytes);
    return finish(std::move(d));
  }
  size_t multibyte = 0, invalid = 0;
  utf8_census(bytes, multibyte, invalid);
  // Mostly valid UTF-8 with some damage: repair. Otherwise ask uchardet.
  if (multibyte == 0 || invalid >= multibyte) {
    std::string cs = detect_charset(bytes);
    std::transform(cs.begin(), cs.end(), cs.begin(),
                   [](unsigned char c) { return std::toupper(c); });
    if (!cs.empty() && cs != "UTF-8" && cs != "ASCII") {
      std::string out;
      if (convert(bytes, cs.c_str(), out)) {
        d.encoding = cs;
        d.detected = true;
        d.text = std::move(out);
        return finish(std::move(d));
      }
    }
  }
  d.encoding = "UTF-8";
  d.replaced = append_repaired_utf8(bytes, d.text);
  return finish(std::move(d));
}

}  // namespace tome::ingest::detail
