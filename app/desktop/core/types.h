// tome::desktop value types that cross threads as queued-signal arguments: session rows, the
// model's facts, an ingest plan, source links, chat messages and the memory report. Plain data
// (Qt value types plus shared pointers to immutable engine objects); registered with the meta-type
// system by registerTypes(). No widgets, no engine calls.
#pragma once

#include <QDateTime>
#include <QList>
#include <QMetaType>
#include <QString>
#include <QStringList>
#include <memory>

namespace tome {
class model;
}

namespace tome::desktop {

// One session of the library, as the library window lists it.
struct SessionRow {
  QString name;
  QString model;        // the model that read it
  QString kind;         // the first document's kind: "pdf", "epub", "markdown", "repository" …
  QString path;         // the first document's path
  qint64 tokens = 0;    // committed document tokens
  qint64 target = 0;    // tokens the last read aimed for; > tokens: unfinished (resumable)
  qint64 diskBytes = 0;
  QDateTime updated;
  QStringList threads;
  bool complete() const { return tokens >= target; }
};

// What the loaded model is and what it costs here; measured once on the worker at load.
struct ModelInfo {
  QString name;
  QString directory;
  QString backend;  // e.g. "CPU (2 threads, OpenBLAS)" or the GPU's name
  bool gpu = false;
  qint64 weightsBytes = 0;
  qint64 kvBytesPerToken = 0;  // global KV in memory on this backend
  qint64 stateBytes = 0;       // self-decoder state of one session
  qint64 maxContext = 0;
  double prefillTokensPerSecond = 0;  // measured on this machine at load (a short prefill)
  std::shared_ptr<const tome::model> model;  // shared, immutable: usable from the ingest pool
};

struct PreparedDocument;  // ingest_pipeline.h: the tokens and the document record

// The pre-ingest plan: what the path holds, what reading it will cost, and whether it fits.
struct IngestPlan {
  QString path;
  QString session;  // proposed session name
  QString title;
  QString kind;
  qint64 pages = 0, files = 0;
  qint64 tokens = 0;  // exact, with the model's document template
  qint64 memoryBytes = 0;  // weights + document KV + state + workspace on the backend
  qint64 kvBytes = 0;
  qint64 diskBytes = 0;  // the session in the library
  qint64 memoryAvailable = -1, diskAvailable = -1;  // -1: unknown
  double expectedSeconds = 0;
  QString backend;
  bool fits = false;
  QString whyNot;  // the reason when it does not fit (shown as a refusal)
  QString report;  // ingest's report (files/pages, skipped items, notes)
  std::shared_ptr<const PreparedDocument> prepared;
};

// A place in a session's documents an answer points to.
struct SourceLink {
  enum class Kind { Quote, Attention, Definition };
  Kind kind = Kind::Quote;
  QString docPath;  // the ingested path (a file, or a repository's root folder)
  QString docKind;  // "pdf", "markdown", "repository" …
  QString file;     // the file (relative to a repository root), or the single file's name
  int page = 0;     // 1-based PDF page; 0 none
  int line = 0;     // 1-based line (of the file, or of the PDF page's text)
  QString title;    // section path
  QString snippet;  // the quoted or attended text
  double weight = 0;  // attention mass, or the quote's length in words
  QString label() const;  // "keeper.md:27", "report.pdf p. 3", "src/a.cpp:12"
};

struct ChatMessage {
  enum class Role { User, Assistant };
  Role role = Role::User;
  QString text;
  QList<SourceLink> sources;
  bool streaming = false;
  bool stopped = false;  // the user pressed Stop
  QString error;
};

// Memory and disk of the open session, for the status bar and panel.
struct MemoryReport {
  QString backend;
  bool gpu = false;
  qint64 weights = 0, documentKv = 0, threads = 0, workspace = 0;
  qint64 sessionDisk = 0;
};

QString humanBytes(qint64 bytes);
QString humanSeconds(double seconds);
void registerTypes();

}  // namespace tome::desktop

Q_DECLARE_METATYPE(tome::desktop::SessionRow)
Q_DECLARE_METATYPE(tome::desktop::ModelInfo)
Q_DECLARE_METATYPE(tome::desktop::IngestPlan)
Q_DECLARE_METATYPE(tome::desktop::SourceLink)
Q_DECLARE_METATYPE(tome::desktop::ChatMessage)
Q_DECLARE_METATYPE(tome::desktop::MemoryReport)
