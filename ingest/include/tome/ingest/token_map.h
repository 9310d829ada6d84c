// tome::ingest::token_map: once a document is tokenized, the map from a token offset to its source
// (file, page, line, title) and back, at line precision. The tokenizer comes in as functions
// (the engine's tokenizer, or anything else): ingest never links the engine. A map serializes
// to a small versioned, checksummed byte image (for the session store) and parse() checks every
// field of an untrusted image. Immutable once built; const methods are thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tome/ingest/document.h"
#include "tome/ingest/ingest.h"
#include "tome/status.h"

namespace tome::ingest {

struct tokenizer_fns {
  // Required: UTF-8 text -> token ids, no special tokens added (tome::tokenizer::encode).
  std::function<std::vector<int32_t>(std::string_view)> encode;
  // Optional: the bytes one token stands for (tome::tokenizer::token_bytes). With it every token
  // is placed on the exact line it belongs to; without it, or when the tokens of a segment do
  // not spell its text byte for byte, lines are placed by byte proportion (exact() is false).
  std::function<std::string_view(int32_t)> token_bytes;
  // Optional: the tokens of a file_header segment, e.g. the model's "file" template
  // ("<|file|>{path}\n"); default encode(segment.text).
  std::function<std::vector<int32_t>(const segment&)> encode_header;
};

struct tokenize_params {
  progress_fn on_progress;  // stage "tokenize", done/total in segments; calling thread only
  // > 0: a repository file's header tokens (its file_header segment's) are stated again inside
  // the file: after a content token whose bytes end a line, once this many content tokens of the
  // file have passed since the last header, when more of the file follows (the model config's
  // file_header_every; training/data/tasks.py restate_headers lays training rows out the same
  // way). Each restatement is a file_header entry of the map (lines 0), the content around it
  // split into entries at that line start. Needs token_bytes and headers that end a line.
  int64_t restate_header_every = 0;
  const std::atomic<bool>* cancel = nullptr;
};

struct tokenized_document;

class token_map {
 public:
  struct location {
    size_t segment = 0;
    segment_kind kind = segment_kind::content;
    source_ref source;  // line_begin == line_end == the token's line (0 for file headers)
  };
  struct token_range {
    uint64_t begin = 0, end = 0;  // [begin, end)
  };

  uint64_t token_count() const;
  size_t segment_count() const { return segments_.size(); }
  bool exact() const { return exact_; }

  // The source of token `token`: the segment, and the line on which the token's text ends up
  // (a token spanning a line break belongs to the later line). nullopt past the end.
  std::optional<location> locate(uint64_t token) const;
  // The first token of `line` of `file` on `page` (page 0: the file's first segment holding the
  // line; line 0: the first token of the file or page). nullopt when there is no such place.
  std::optional<uint64_t> find(std::string_view file, int32_t page = 0, int32_t line = 0) const;
  token_range segment_tokens(size_t segment) const;
  const source_ref& segment_source(size_t segment) const { return segments_[segment].source; }
  // Tokens of all segments of `file` (contiguous in a repository); nullopt if absent.
  std::optional<token_range> file_tokens(std::string_view file) const;

  std::vector<uint8_t> serialize() const;
  static result<token_map> parse(std::span<const uint8_t> bytes);

  bool operator==(const token_map& o) const = default;

  struct segment_entry {
    uint64_t token_begin = 0;
    uint64_t token_end = 0;
    segment_kind kind = segment_kind::content;
    source_ref source;
    // line_token[i]: the token (relative to token_begin) holding the first byte of line
    // source.line_begin + i; non-decreasing; empty for file headers.
    std::vector<uint32_t> line_token;
    bool operator==(const segment_entry& o) const = default;
  };

 private:
  friend result<tokenized_document> tokenize(const document&, const tokenizer_fns&,
                                             const tokenize_params&);
  std::vector<segment_entry> segments_;
  bool exact_ = true;
};

struct tokenized_document {
  std::vector<int32_t> tokens;
  token_map map;
};

// Tokenizes every segment (in order, concatenated) and builds the map. Errors: no encode
// function, a tokenizer exception (caught, named), cancellation.
result<tokenized_document> tokenize(const document& doc, const tokenizer_fns& fns,
                                    const tokenize_params& p = {});

// Sets report.estimated_tokens to the exact count of `map`.
void update_report(ingest_report& report, const token_map& map);

}  // namespace tome::ingest
