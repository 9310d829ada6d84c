// tome::tokenizer: SentencePiece with the model's special tokens.
// User text is encoded with SentencePiece only: special-token pieces typed by a user (or found
// in a document) are never turned into special tokens. Templates from config.json are the only
// place where special pieces are recognised. No dummy prefix: whatever tokenizer.model says,
// text is encoded as its exact bytes (no leading "▁" is added), so decode(encode(s)) == s for
// valid UTF-8 and template segments join without stray spaces. Const methods are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tome/model_config.h"
#include "tome/status.h"

namespace tome {

class tokenizer {
 public:
  // Loads tokenizer.model and checks it against the config: vocabulary size, and every special
  // token's id and piece.
  static result<std::unique_ptr<tokenizer>> load(const std::filesystem::path& path,
                                                 const model_config& config);
  ~tokenizer();

  int32_t vocab_size() const;
  std::vector<int32_t> encode(std::string_view text) const;
  // Expands config template `name` ({placeholder} → vars[placeholder], encoded as user text;
  // special pieces in the template → their ids). Unknown template or placeholder: an error.
  result<std::vector<int32_t>> encode_template(const std::string& name,
                                               const std::map<std::string, std::string>& vars) const;
  // One repository file in the model's layout: template "file" ({path}, {text}), its header (the
  // ids up to the first token that ends a line) stated again after a token ending a line once
  // config file_header_every ids have passed since the last header, when more follow (the rule
  // of ingest::tokenize_params::restate_header_every and training/data/tasks.py).
  result<std::vector<int32_t>> encode_file(const std::string& path, const std::string& text) const;
  std::string decode(std::span<const int32_t> ids) const;
  std::string piece(int32_t id) const;  // the SentencePiece piece ("▁the", "<0x0A>"); "" if out of range
  // The bytes a token stands for: "▁" as a space, a byte-fallback piece as its one byte (maybe
  // part of a UTF-8 character), nothing for special tokens, U+FFFD for an id out of range.
  std::string_view token_bytes(int32_t id) const;
  // Config special tokens, SentencePiece control symbols and <unk>: they decode to nothing.
  bool is_special(int32_t id) const;

 private:
  tokenizer();
  struct impl;
  std::unique_ptr<impl> impl_;
  model_config config_;
};

// Streams ids to UTF-8: returns the text each new id completes, holding back bytes of a
// character that is not complete yet (byte-fallback pieces) and special tokens' pieces.
class detokenizer {
 public:
  explicit detokenizer(const tokenizer& tok) : tok_(tok) {}
  std::string push(int32_t id);
  std::string flush();  // whatever is left (invalid bytes become U+FFFD)

 private:
  const tokenizer& tok_;
  std::vector<int32_t> ids_;
  size_t emitted_bytes_ = 0;
};

}  // namespace tome
