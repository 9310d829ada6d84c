// CompletionController (completion_controller.h).
#include "core/completion_controller.h"

#include "core/engine_worker.h"

namespace tome::desktop {

CompletionController::CompletionController(EngineWorker* worker, QObject* parent) : QObject(parent), m_worker(worker) {
  connect(worker, &EngineWorker::completionReady, this, [this](quint64 id, const QString& text, const QString& error) {
    if (id != m_latest) return;  // superseded
    m_latest = 0;
    if (error.isEmpty()) emit ready(id, text);
    else if (error != QLatin1String("cancelled")) emit failed(id, error);
  });
}

quint64 CompletionController::request(const QString& prefix, const QString& suffix, int maxTokens) {
  if (m_session.isEmpty()) return 0;
  if (m_latest) m_worker->cancelCompletion();
  m_latest = m_next++;
  m_worker->complete(m_latest, m_session, prefix, suffix, maxTokens);
  return m_latest;
}

void CompletionController::cancel() {
  if (!m_latest) return;
  m_worker->cancelCompletion();
  m_latest = 0;
}

}  // namespace tome::desktop
