// AppController (app_controller.h).
#include "core/app_controller.h"

namespace tome::desktop {

AppController::AppController(const QString& settingsFile, QObject* parent)
    : QObject(parent), m_settings(new Settings(settingsFile, this)), m_worker(new EngineWorker(this)) {
  m_ingest = new IngestController(m_worker, &m_library, m_settings, this);
  m_chat = new ChatController(m_worker, m_settings, this);
  m_completion = new CompletionController(m_worker, this);
  connect(m_worker, &EngineWorker::modelLoaded, this, [this](const ModelInfo& info) {
    m_model = info;
    m_ingest->setModel(info);
    emit message(Level::Info, tr("Model %1 loaded on %2.").arg(info.name, info.backend));
    emit modelReadyChanged(true);
    if (!m_current.name.isEmpty()) openSession(m_current.name);
  });
  connect(m_worker, &EngineWorker::modelFailed, this, [this](const QString& text) {
    m_model = ModelInfo{};
    m_ingest->setModel(m_model);
    emit message(Level::Error, text);
    emit modelReadyChanged(false);
  });
  connect(m_worker, &EngineWorker::failed, this, [this](const QString& text) { emit message(Level::Error, text); });
  connect(m_worker, &EngineWorker::sessionsChanged, this, [this](const QList<SessionRow>& rows) {
    m_library.setSessions(rows);
    if (const SessionRow* cur = m_library.find(m_current.name)) {
      m_current = *cur;
      m_chat->setThreads(cur->threads);
    }
    if (m_firstListing) {
      m_firstListing = false;
      QList<SessionRow> unfinished;
      for (const auto& r : rows)
        if (!r.complete() && !r.path.isEmpty()) unfinished.push_back(r);
      if (!unfinished.isEmpty()) emit resumable(unfinished);
    }
  });
  connect(m_worker, &EngineWorker::sessionOpened, this, [this](const SessionRow& row, const QStringList& files) {
    const bool same = row.name == m_current.name && m_chat->session() == row.name;
    m_current = row;
    m_files.setFiles(files);
    m_completion->setSession(row.complete() ? row.name : QString());
    if (!same) m_chat->setSession(row.name, row.threads);
    emit sessionOpened(row);
  });
  connect(m_worker, &EngineWorker::memoryChanged, this, [this](const MemoryReport& m) {
    m_memory = m;
    emit memoryChanged(m);
  });
  connect(m_worker, &EngineWorker::idle, this, [this] {
    if (m_quitting) emit readyToQuit();
  });
  connect(m_ingest, &IngestController::finished, this, [this](const QString& session, bool cancelled, const QString& error) {
    if (!error.isEmpty()) emit message(Level::Error, tr("Reading '%1' failed: %2").arg(session, error));
    else if (cancelled && !session.isEmpty())
      emit message(Level::Warning, tr("Reading '%1' stopped; the session keeps its last checkpoint and can be resumed.").arg(session));
    else if (!session.isEmpty()) {
      emit message(Level::Info, tr("'%1' is read.").arg(session));
      openSession(session);
    }
  });
  connect(m_chat, &ChatController::failed, this, [this](const QString& text) { emit message(Level::Error, text); });
  connect(m_chat, &ChatController::notice, this, [this](const QString& text) { emit message(Level::Info, text); });
  connect(m_completion, &CompletionController::failed, this,
          [this](quint64, const QString& text) { emit message(Level::Warning, tr("Completion: %1").arg(text)); });
  connect(m_settings, &Settings::modelChanged, this, &AppController::reloadModel);
}

AppController::~AppController() {
  m_quitting = true;
  m_worker->cancelAll();
  delete m_ingest;  // waits for its planning pool
  m_ingest = nullptr;
  delete m_worker;  // joins the engine thread before the models it reports to go away
  m_worker = nullptr;
}

void AppController::start() {
  reloadModel();
  m_worker->openLibrary(m_settings->libraryPath());
}

void AppController::reloadModel() {
  m_model = ModelInfo{};
  emit modelReadyChanged(false);
  m_worker->loadModel(m_settings->modelDir(), m_settings->backend());
}

void AppController::openSession(const QString& name) {
  if (name.isEmpty()) return;
  m_worker->openSession(name);
}

void AppController::removeSession(const QString& name) {
  if (name == m_current.name) {
    m_current = SessionRow{};
    m_chat->setSession(QString(), {});
    m_files.setFiles({});
    m_completion->setSession(QString());
  }
  m_worker->removeSession(name);
}

void AppController::renameSession(const QString& from, const QString& to) {
  if (to.trimmed().isEmpty() || from == to) return;
  if (from == m_current.name) {
    m_current = SessionRow{};
    m_chat->setSession(QString(), {});
  }
  m_worker->renameSession(from, to.trimmed());
}

void AppController::exportSession(const QString& name, const QString& file) { m_worker->exportSession(name, file); }
void AppController::importSession(const QString& file, const QString& newName) { m_worker->importSession(file, newName); }

bool AppController::busy() const {
  return m_worker->busy() || m_ingest->state() == IngestController::State::Planning ||
         m_ingest->state() == IngestController::State::Reading;
}

bool AppController::requestQuit() {
  m_quitting = true;
  m_ingest->cancel();
  m_chat->stop();
  m_completion->cancel();
  m_worker->cancelAll();
  return !m_worker->busy();
}

}  // namespace tome::desktop
