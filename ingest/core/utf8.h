// UTF-8 helpers for ingest: validation, repair (each maximal invalid subsequence becomes one
// U+FFFD, as the Unicode standard recommends), counting, newline normalisation. Internal to
// tome_ingest (namespace detail); pure functions on bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tome::ingest::detail {

bool valid_utf8(std::string_view s);
// Appends `in` to `out` with invalid sequences replaced by U+FFFD; returns how many were replaced.
size_t append_repaired_utf8(std::string_view in, std::string& out);
// Code points in valid UTF-8 (continuation bytes are not counted).
uint64_t count_code_points(std::string_view s);
// Length of the valid UTF-8 sequence starting at s[i], or 0 if none starts there.
size_t utf8_sequence_length(std::string_view s, size_t i);
// Decodes the code point starting at s[i] (valid UTF-8 assumed); sets len.
char32_t decode_utf8(std::string_view s, size_t i, size_t& len);
void append_utf8(char32_t c, std::string& out);

// For titles: runs of whitespace (no-break spaces included) as one space, trimmed, invalid UTF-8
// repaired.
std::string collapse_spaces(std::string_view s);

// CRLF and lone CR become LF; NUL bytes are dropped. In place.
void normalize_newlines(std::string& s);

}  // namespace tome::ingest::detail
