// SourceIndex: a session's document text as the model read it (its token ids spelled with the
// tokenizer's token_bytes), a word index over it, and the documents' token maps. It finds the
// spans an answer quotes (verbatim runs of words, or a short answer such as "7341" as a whole)
// and where a name is defined in a repository, and turns a text position into a file, page and
// line. Built and used on the engine worker thread; immutable after build (const use from any
// thread is safe). No Qt widgets; QtCore strings at the boundary only.
#pragma once

#include <QList>
#include <QString>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/types.h"
#include "tome/ingest/token_map.h"
#include "tome/store/library.h"
#include "tome/tokenizer.h"

namespace tome::desktop {

class SourceIndex {
 public:
  struct Document {
    store::document_record record;
    std::optional<ingest::token_map> map;  // absent when the source map is missing or unreadable
    int64_t mapOffset = 0;                 // template tokens before the map's token 0
  };

  // tokens: the session's document state; documents: its records with their source-map JSON.
  static SourceIndex build(const tokenizer& tok, const std::vector<int32_t>& tokens,
                           const std::vector<store::document_record>& documents);

  struct QuoteParams {
    int minWords = 3;      // a quoted run of at least this many words
    int maxLinks = 8;      // links returned at most
    int maxCandidates = 4000;  // start positions examined per answer word
  };
  // Spans of `answer` found verbatim (case and punctuation aside) in the documents.
  QList<SourceLink> findQuotes(const QString& answer, const QuoteParams& p) const;
  QList<SourceLink> findQuotes(const QString& answer) const { return findQuotes(answer, QuoteParams{}); }
  // Definitions of `name` (def/class/struct/fn/function … name, or a C-style `type name(` at the
  // start of a line not ending in ';').
  QList<SourceLink> findDefinitions(const QString& name, int maxLinks = 8) const;
  // The place of text byte `pos`; nullopt outside every document with a map.
  std::optional<SourceLink> locate(size_t pos) const;

  const std::string& text() const { return m_text; }
  const std::vector<Document>& documents() const { return m_docs; }
  // The files of the first repository document, in reading order (for the code view's tree).
  QStringList files() const;
  bool empty() const { return m_text.empty(); }

 private:
  struct Word {
    uint32_t begin, end;  // bytes of m_text
  };
  std::string m_text;
  std::vector<uint64_t> m_tokenStart;  // byte offset of each token in m_text
  std::vector<Word> m_words;
  std::vector<std::string> m_norm;  // normalized words (lower-case ASCII), parallel to m_words
  std::unordered_map<std::string, std::vector<uint32_t>> m_positions;
  std::vector<Document> m_docs;
  SourceLink linkFor(uint32_t firstWord, uint32_t lastWord, SourceLink::Kind kind) const;
};

// Words of `text` as the index normalizes them (lower-case ASCII; UTF-8 kept as is).
std::vector<std::string> normalizedWords(const std::string& text);
// "where is X defined?", "where's X declared", "find the definition of X" -> X; empty otherwise.
QString definitionQuery(const QString& question);

}  // namespace tome::desktop
