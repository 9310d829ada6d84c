// EngineWorker: the one thread that owns the engine (the model, its GPU context), the session
// library and the resident session. Every public call returns at once and queues a job that runs,
// in order, on the worker thread; results come back as signals, which are EMITTED ON THE WORKER
// THREAD (connect receivers living on the GUI thread with the default connection: queued).
// cancelRead/stopAnswer/cancelCompletion/cancelAll are thread-safe and take effect within a
// layer of the engine (prefill) or a token (generation). The destructor cancels, lets the running
// job end at its next check, releases the engine on the worker thread and joins it.
#pragma once

#include <QObject>
#include <QString>
#include <QThread>
#include <atomic>

#include "core/types.h"

namespace tome::desktop {

class WorkerState;  // engine_worker.cpp: what only the worker thread touches

struct GenerationSettings {
  double temperature = 0.0;  // 0: greedy
  double topP = 1.0;
  int maxTokens = 128;
  quint64 seed = 0;
};

struct ReadSettings {
  QString kvStorage = QStringLiteral("f32");  // "f32", "bf16", "fp8": the session's KV at rest
  qint64 chunkTokens = 0;  // prefill chunk = checkpoint; 0: 4096 on the CPU, 32768 on a GPU
};

class EngineWorker : public QObject {
  Q_OBJECT
 public:
  explicit EngineWorker(QObject* parent = nullptr);
  ~EngineWorker() override;

  // Jobs (queued, run in order on the worker thread).
  void loadModel(const QString& dir, const QString& backend);  // backend: "auto", "cpu", "cuda"
  void openLibrary(const QString& path);
  void refreshSessions();
  void readDocument(const IngestPlan& plan, const ReadSettings& settings);
  void removeSession(const QString& name);
  void renameSession(const QString& from, const QString& to);
  void exportSession(const QString& name, const QString& file);
  void importSession(const QString& file, const QString& newName);
  void openSession(const QString& name);
  void loadThread(const QString& session, const QString& thread);
  void removeThread(const QString& session, const QString& thread);
  // thread empty: a new thread (its name comes back with answerFinished).
  void ask(quint64 id, const QString& session, const QString& thread, const QString& question,
           const GenerationSettings& gen);
  // Fill-in-the-middle with the session resident (kept in memory between requests, rewound to
  // the end of its documents after each).
  void complete(quint64 id, const QString& session, const QString& prefix, const QString& suffix,
                int maxTokens);

  // Thread-safe, immediate.
  void cancelRead() { m_cancelRead.store(true); }
  void stopAnswer() { m_stopAnswer.store(true); }
  void cancelCompletion() {
    m_latestCompletion.store(0);
    m_cancelCompletion.store(true);
  }
  void cancelAll();
  bool busy() const { return m_pending.load() > 0; }
  int pendingJobs() const { return m_pending.load(); }

 signals:
  void modelLoaded(const tome::desktop::ModelInfo& info);
  void modelFailed(const QString& message);
  void libraryOpened(const QString& path);
  void sessionsChanged(const QList<tome::desktop::SessionRow>& sessions);
  void readStarted(const QString& session, qint64 resumedFrom, qint64 total);
  void readProgress(const QString& session, qint64 done, qint64 total, double tokensPerSecond,
                    double secondsLeft);
  void readFinished(const QString& session, bool cancelled, const QString& error);
  void sessionOpened(const tome::desktop::SessionRow& session, const QStringList& files);
  void threadLoaded(const QString& session, const QString& thread,
                    const QList<tome::desktop::ChatMessage>& messages);
  void answerToken(quint64 id, const QString& piece);
  // Before the first tokens of an answer that takes longer than usual (the calibrated file choice
  // scoring every path of a repository once): what it is doing, for the status bar.
  void answerNote(quint64 id, const QString& note);
  void answerFinished(quint64 id, const QString& session, const QString& thread,
                      const QString& text, const QList<tome::desktop::SourceLink>& sources,
                      bool stopped, const QString& error);
  void completionReady(quint64 id, const QString& text, const QString& error);
  void memoryChanged(const tome::desktop::MemoryReport& report);
  void failed(const QString& message);  // a job failed: the message names what and why
  void idle();                          // the job queue is empty

 private:
  template <class F>
  void post(F&& job);
  QThread m_thread;
  QObject* m_context = nullptr;  // lives on m_thread: queued jobs run in its thread
  WorkerState* m_state = nullptr;
  std::atomic<bool> m_cancelRead{false}, m_stopAnswer{false}, m_cancelCompletion{false};
  std::atomic<bool> m_shuttingDown{false};
  std::atomic<quint64> m_latestCompletion{0};  // older completion jobs are skipped
  std::atomic<int> m_pending{0};
  friend class WorkerState;
};

}  // namespace tome::desktop
