// IngestController: a path -> the plan (computed on its own thread pool: ingest + tokenize never
// run on the GUI thread) -> the read (a checkpointed prefill on the engine worker) with progress,
// tokens/s, time left and cancel. Lives on the GUI thread; its signals are emitted there.
// Cancel stops the plan between pages/files and the read within one engine layer; the session
// keeps its last checkpoint. The destructor cancels and waits for its pool.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QThreadPool>
#include <atomic>
#include <memory>

#include "core/types.h"

namespace tome::desktop {

class EngineWorker;
class LibraryModel;
class Settings;

class IngestController : public QObject {
  Q_OBJECT
 public:
  enum class State { Idle, Planning, Planned, Reading };
  Q_ENUM(State)
  IngestController(EngineWorker* worker, LibraryModel* library, Settings* settings, QObject* parent = nullptr);
  ~IngestController() override;

  void setModel(const ModelInfo& info) { m_model = info; }
  State state() const { return m_state; }
  const IngestPlan& plan() const { return m_plan; }

  // Plans `path` as a new session (a unique name from the file or folder name), or as `session`
  // when given (resuming an unfinished one).
  void planPath(const QString& path, const QString& session = {}, const QString& password = {});
  void start();   // reads the planned document (only when it fits)
  void cancel();  // stops planning or reading
  void discard(); // drops a plan without reading it
  // Resume an unfinished session: plan its document again (same content -> same tokens) and read.
  void resume(const SessionRow& row);

 signals:
  void stateChanged(tome::desktop::IngestController::State state);
  void planProgress(const QString& stage, qint64 done, qint64 total);
  void planReady(const tome::desktop::IngestPlan& plan);  // fits or not (whyNot)
  void progress(qint64 done, qint64 total, double tokensPerSecond, double secondsLeft);
  void finished(const QString& session, bool cancelled, const QString& error);

 private:
  void setState(State s);
  EngineWorker* m_worker;
  LibraryModel* m_library;
  Settings* m_settings;
  ModelInfo m_model;
  QThreadPool m_pool;
  std::shared_ptr<std::atomic<bool>> m_cancelPlan = std::make_shared<std::atomic<bool>>(false);
  quint64 m_planId = 0;
  IngestPlan m_plan;
  State m_state = State::Idle;
  bool m_autoStart = false;  // resume: read as soon as the plan fits
};

}  // namespace tome::desktop
