// Text decoding for ingest: bytes of unknown encoding to valid UTF-8 with LF newlines. BOMs
// (UTF-8/16/32), UTF-16 without a BOM, valid or slightly damaged UTF-8 (repaired: U+FFFD per
// invalid sequence, counted), and legacy encodings detected with uchardet and converted with
// iconv. Binary data (NUL bytes, control characters) is refused. A libFuzzer target covers it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "tome/ingest/report.h"
#include "tome/status.h"

namespace tome::ingest::detail {

struct decoded_text {
  std::string text;       // valid UTF-8, LF newlines, no NUL
  std::string encoding;   // "UTF-8", "UTF-16LE", "WINDOWS-1252", ...
  bool detected = false;  // the encoding was guessed by uchardet (no BOM, not UTF-8)
  size_t replaced = 0;    // invalid UTF-8 sequences replaced with U+FFFD
};

// Why `bytes` look binary ("NUL bytes", "control characters"), or "" when they look like text.
// Looks at the first 8,000 bytes, as git does; UTF-16 text (zero high bytes) is not binary.
std::string binary_evidence(std::string_view bytes);

// Errors: "binary data (NUL bytes), not text". The caller adds the file name.
result<decoded_text> decode_text(std::string_view bytes);

// Adds the report notes a decode calls for ("name: decoded as WINDOWS-1252 (detected)", repairs).
void note_decoding(ingest_report& r, const std::string& name, const decoded_text& d);

}  // namespace tome::ingest::detail
