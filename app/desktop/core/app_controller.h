// AppController: the desktop app without its widgets. Owns the engine worker, the settings, the
// item models and the controllers; loads the model and opens the library at start(); opens
// sessions; library actions (delete, rename, export, import); the memory report; orderly
// shutdown (cancel everything, then readyToQuit once the worker is idle). Errors arrive as
// message() signals, never as exceptions or exits. GUI thread only; signals emitted there.
#pragma once

#include <QObject>
#include <memory>

#include "core/chat_controller.h"
#include "core/completion_controller.h"
#include "core/engine_worker.h"
#include "core/file_tree_model.h"
#include "core/ingest_controller.h"
#include "core/library_model.h"
#include "core/settings.h"

namespace tome::desktop {

class AppController : public QObject {
  Q_OBJECT
 public:
  enum class Level { Info, Warning, Error };
  Q_ENUM(Level)
  // settingsFile: an INI file for tests; empty for the user's settings.
  explicit AppController(const QString& settingsFile = {}, QObject* parent = nullptr);
  ~AppController() override;

  void start();  // loads the model and opens the library (both on the worker)
  Settings* settings() { return m_settings; }
  EngineWorker* worker() { return m_worker; }
  LibraryModel* library() { return &m_library; }
  FileTreeModel* files() { return &m_files; }
  IngestController* ingest() { return m_ingest; }
  ChatController* chat() { return m_chat; }
  CompletionController* completion() { return m_completion; }
  const ModelInfo& model() const { return m_model; }
  bool modelReady() const { return m_model.model != nullptr; }
  const SessionRow& currentSession() const { return m_current; }
  const MemoryReport& memory() const { return m_memory; }

  void openSession(const QString& name);
  void removeSession(const QString& name);
  void renameSession(const QString& from, const QString& to);
  void exportSession(const QString& name, const QString& file);
  void importSession(const QString& file, const QString& newName = {});
  void reloadModel();

  // Cancels every job; returns true when nothing runs (quit now), else emits readyToQuit later.
  bool requestQuit();
  bool busy() const;

 signals:
  void message(tome::desktop::AppController::Level level, const QString& text);
  void modelReadyChanged(bool ready);
  void sessionOpened(const tome::desktop::SessionRow& session);
  void memoryChanged(const tome::desktop::MemoryReport& report);
  // Unfinished sessions found at start (a read interrupted by a cancel, a crash or closing).
  void resumable(const QList<tome::desktop::SessionRow>& sessions);
  void readyToQuit();

 private:
  Settings* m_settings;
  EngineWorker* m_worker;
  LibraryModel m_library;
  FileTreeModel m_files;
  IngestController* m_ingest;
  ChatController* m_chat;
  CompletionController* m_completion;
  ModelInfo m_model;
  SessionRow m_current;
  MemoryReport m_memory;
  bool m_firstListing = true;
  bool m_quitting = false;
};

}  // namespace tome::desktop
