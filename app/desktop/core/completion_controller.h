// CompletionController: ghost-text completion at the code editor's cursor with the whole
// repository session in context. Each request supersedes the previous one (the running one is
// cancelled at its next token); only the latest answer is delivered. GUI thread only.
#pragma once

#include <QObject>

namespace tome::desktop {

class EngineWorker;

class CompletionController : public QObject {
  Q_OBJECT
 public:
  CompletionController(EngineWorker* worker, QObject* parent = nullptr);
  void setSession(const QString& session) { m_session = session; }
  quint64 request(const QString& prefix, const QString& suffix, int maxTokens = 32);
  void cancel();
  bool pending() const { return m_latest != 0; }

 signals:
  void ready(quint64 id, const QString& text);
  void failed(quint64 id, const QString& message);

 private:
  EngineWorker* m_worker;
  QString m_session;
  quint64 m_next = 1, m_latest = 0;
};

}  // namespace tome::desktop
