// SourceIndex (source_index.h): the document text from token bytes, the word index, quote and
// definition search, and text position -> file/page/line through the documents' token maps.
#include "core/source_index.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <algorithm>
#include <set>

namespace tome::desktop {
namespace {

bool isWordByte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

template <class F>
void forEachWord(const std::string& s, F&& f) {
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && !isWordByte(static_cast<unsigned char>(s[i]))) ++i;
    const size_t b = i;
    while (i < s.size() && isWordByte(static_cast<unsigned char>(s[i]))) ++i;
    if (i > b) f(b, i);
  }
}

std::string lower(std::string_view w) {
  std::string out(w);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::optional<SourceIndex::Document> parseDocument(const store::document_record& rec) {
  SourceIndex::Document d;
  d.record = rec;
  const QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(rec.source_map)).object();
  if (o.value(QLatin1String("format")).toString() == QLatin1String("tome-token-map")) {
    d.mapOffset = o.value(QLatin1String("token_offset")).toInteger();
    const QByteArray bytes = QByteArray::fromBase64(o.value(QLatin1String("map_base64")).toString().toLatin1());
    auto m = ingest::token_map::parse(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<size_t>(bytes.size())));
    if (m) d.map = std::move(*m);
  }
  return d;
}

}  // namespace

std::vector<std::string> normalizedWords(const std::string& text) {
  std::vector<std::string> out;
  forEachWord(text, [&](size_t b, size_t e) { out.push_back(lower(std::string_view(text).substr(b, e - b))); });
  return out;
}

QString definitionQuery(const QString& question) {
  static const QRegularExpression re[] = {
      QRegularExpression(QStringLiteral("where\\s*(?:is|'s|are)\\s+(?:the\\s+)?(?:function\\s+|class\\s+|struct\\s+|type\\s+|method\\s+)?`?([A-Za-z_][A-Za-z0-9_:.]*)(?:\\(\\))?`?\\s+(?:defined|declared|implemented)"),
                         QRegularExpression::CaseInsensitiveOption),
      QRegularExpression(QStringLiteral("(?:definition|declaration)\\s+of\\s+`?([A-Za-z_][A-Za-z0-9_:.]*)"),
                         QRegularExpression::CaseInsensitiveOption),
      // The model's own training question: "Which file defines `SYMBOL`?"
      QRegularExpression(QStringLiteral("(?:which|what)\\s+(?:source\\s+)?file\\s+(?:defines|declares|implements)\\s+(?:the\\s+)?(?:function\\s+|class\\s+|struct\\s+|type\\s+|method\\s+|macro\\s+)?`?([A-Za-z_][A-Za-z0-9_:.]*)"),
                         QRegularExpression::CaseInsensitiveOption)};
  for (const auto& r : re) {
    const auto m = r.match(question);
    if (m.hasMatch()) {
      QString name = m.captured(1);
      const int sep = std::max(name.lastIndexOf(QLatin1String("::")) + 1, name.lastIndexOf(QLatin1Char('.')));
      return sep > 0 ? name.mid(sep + 1) : name;
    }
  }
  return {};
}

SourceIndex SourceIndex::build(const tokenizer& tok, const std::vector<int32_t>& tokens,
                               const std::vector<store::document_record>& documents) {
  SourceIndex ix;
  ix.m_tokenStart.reserve(tokens.size());
  for (int32_t id : tokens) {
    ix.m_tokenStart.push_back(ix.m_text.size());
    ix.m_text += tok.token_bytes(id);
  }
  forEachWord(ix.m_text, [&](size_t b, size_t e) {
    ix.m_words.push_back({static_cast<uint32_t>(b), static_cast<uint32_t>(e)});
    ix.m_norm.push_back(lower(std::string_view(ix.m_text).substr(b, e - b)));
  });
  for (uint32_t i = 0; i < ix.m_norm.size(); ++i) ix.m_positions[ix.m_norm[i]].push_back(i);
  for (const auto& rec : documents)
    if (auto d = parseDocument(rec)) ix.m_docs.push_back(std::move(*d));
  return ix;
}

std::optional<SourceLink> SourceIndex::locate(size_t pos) const {
  if (m_tokenStart.empty() || pos >= m_text.size()) return std::nullopt;
  const auto it = std::upper_bound(m_tokenStart.begin(), m_tokenStart.end(), pos);
  const auto token = static_cast<int64_t>(it - m_tokenStart.begin()) - 1;
  for (const Document& d : m_docs) {
    if (token < d.record.token_begin || token >= d.record.token_end) continue;
    SourceLink l;
    l.docPath = QString::fromStdString(d.record.path);
    l.docKind = QString::fromStdString(d.record.kind);
    if (!d.map) return l;
    const int64_t t = token - d.record.token_begin - d.mapOffset;
    if (t < 0) return l;
    const auto loc = d.map->locate(static_cast<uint64_t>(t));
    if (!loc) return l;
    l.file = QString::fromStdString(loc->source.file);
    l.page = loc->source.page;
    l.line = loc->source.line_begin;
    l.title = QString::fromStdString(loc->source.title);
    return l;
  }
  return std::nullopt;
}

SourceLink SourceIndex::linkFor(uint32_t first, uint32_t last, SourceLink::Kind kind) const {
  SourceLink l = locate(m_words[first].begin).value_or(SourceLink{});
  l.kind = kind;
  const size_t b = m_words[first].begin, e = m_words[last].end;
  l.snippet = QString::fromUtf8(m_text.data() + b, static_cast<qsizetype>(std::min<size_t>(e - b, 400))).simplified();
  l.weight = last - first + 1;
  return l;
}

QList<SourceLink> SourceIndex::findQuotes(const QString& answer, const QuoteParams& p) const {
  QList<SourceLink> out;
  const std::vector<std::string> aw = normalizedWords(answer.toStdString());
  if (aw.empty() || m_words.empty()) return out;
  std::set<std::tuple<QString, int, int>> seen;  // one link per file/page/line
  auto add = [&](uint32_t first, uint32_t last) {
    SourceLink l = linkFor(first, last, SourceLink::Kind::Quote);
    if (seen.insert({l.file.isEmpty() ? l.docPath : l.file, l.page, l.line}).second) out.push_back(l);
  };
  // A short answer ("7341", "Idris Hale") is a quote when it occurs as a whole.
  const bool shortAnswer = aw.size() < static_cast<size_t>(p.minWords);
  for (size_t i = 0; i < aw.size() && out.size() < p.maxLinks;) {
    const auto it = m_positions.find(aw[i]);
    size_t best = 0;
    uint32_t bestPos = 0;
    if (it != m_positions.end()) {
      const auto& pos = it->second;
      const size_t n = std::min(pos.size(), static_cast<size_t>(p.maxCandidates));
      for (size_t k = 0; k < n; ++k) {
        size_t len = 0;
        while (i + len < aw.size() && pos[k] + len < m_norm.size() && m_norm[pos[k] + len] == aw[i + len]) ++len;
        if (len > best) {
          best = len;
          bestPos = pos[k];
        }
      }
    }
    // A one-word answer counts when it is distinctive: a number, or a word the documents rarely use.
    const bool distinctive = aw.size() > 1 || std::any_of(aw[0].begin(), aw[0].end(), [](char c) { return c >= '0' && c <= '9'; }) ||
                             (aw[0].size() >= 3 && it != m_positions.end() && it->second.size() <= 8);
    if (shortAnswer && best == aw.size() && distinctive) {
      const auto& pos = it->second;  // every occurrence of the whole short answer
      for (size_t k = 0; k < pos.size() && out.size() < p.maxLinks; ++k) {
        size_t len = 0;
        while (len < aw.size() && pos[k] + len < m_norm.size() && m_norm[pos[k] + len] == aw[len]) ++len;
        if (len == aw.size()) add(pos[k], static_cast<uint32_t>(pos[k] + len - 1));
      }
      break;
    }
    if (best >= static_cast<size_t>(p.minWords)) {
      add(bestPos, static_cast<uint32_t>(bestPos + best - 1));
      i += best;
    } else {
      ++i;
    }
  }
  return out;
}

QList<SourceLink> SourceIndex::findDefinitions(const QString& name, int maxLinks) const {
  static const std::set<std::string> keywords = {
      "def", "class", "struct", "fn", "function", "func", "interface", "enum", "type", "union",
      "typedef", "define", "namespace", "trait", "impl", "module", "sub", "proc", "macro", "let", "const", "var"};
  QList<SourceLink> out;
  const std::string key = lower(name.toStdString());
  const auto it = m_positions.find(key);
  if (key.empty() || it == m_positions.end()) return out;
  const std::string exact = name.toStdString();
  QList<SourceLink> weak;
  for (uint32_t w : it->second) {
    const Word& word = m_words[w];
    if (m_text.compare(word.begin, word.end - word.begin, exact) != 0) continue;  // case matters here
    const size_t lineBegin = m_text.rfind('\n', word.begin) == std::string::npos ? 0 : m_text.rfind('\n', word.begin) + 1;
    const size_t lineEnd = std::min(m_text.find('\n', word.end), m_text.size());
    const std::string_view line(m_text.data() + lineBegin, lineEnd - lineBegin);
    SourceLink link = linkFor(w, w, SourceLink::Kind::Definition);
    link.snippet = QString::fromUtf8(line.data(), static_cast<qsizetype>(std::min<size_t>(line.size(), 200))).trimmed();
    if (w > 0 && keywords.count(m_norm[w - 1]) && m_words[w - 1].begin >= lineBegin) {
      out.push_back(link);
    } else if (!line.empty() && line.front() != ' ' && line.front() != '\t' && word.begin > lineBegin &&
               word.end < m_text.size() && m_text[word.end] == '(' &&
               (m_text[word.begin - 1] == ' ' || m_text[word.begin - 1] == '*' || m_text[word.begin - 1] == '&') && line.find(';') == std::string_view::npos &&
               line.find('=') == std::string_view::npos) {
      weak.push_back(link);  // `int name(args)` at column 0
    }
    if (out.size() >= maxLinks) break;
  }
  for (const auto& l : weak)
    if (out.size() < maxLinks) out.push_back(l);
  return out;
}

QStringList SourceIndex::files() const {
  QStringList out;
  for (const Document& d : m_docs) {
    if (d.record.kind != "repository" || !d.map) continue;
    for (size_t s = 0; s < d.map->segment_count(); ++s) {
      const QString f = QString::fromStdString(d.map->segment_source(s).file);
      if (!f.isEmpty() && (out.isEmpty() || out.back() != f)) out.push_back(f);
    }
    break;
  }
  return out;
}

}  // namespace tome::desktop
