// UTF-8 validation for text leaving the engine: ill-formed bytes become U+FFFD, one per maximal
// subpart (the Unicode / WHATWG practice, same as Python's errors="replace"), and a streaming
// caller can hold back an incomplete character at the end until more bytes arrive.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tome {

// Appends bytes[from..] to *out as well-formed UTF-8. If `final` is false, stops before a
// trailing sequence that is incomplete but could still become valid, and returns its offset;
// otherwise consumes everything and returns bytes.size().
size_t append_valid_utf8(std::string_view bytes, size_t from, bool final, std::string* out);

// The whole of `bytes` as well-formed UTF-8.
inline std::string valid_utf8(std::string_view bytes) {
  std::string out;
  append_valid_utf8(bytes, 0, true, &out);
  return out;
}

}  // namespace tome
