// ChatController: questions and streamed answers in the threads of the open session. A question
// goes to the engine worker (service::ask: a thread branching from the document state, only its
// own suffix saved); tokens stream back into ChatModel; Stop ends the answer at the next token
// (what was generated is kept). New thread / switch thread; the sources of the selected answer
// fill SourcesModel. GUI thread only; signals are emitted on the GUI thread.
#pragma once

#include <QObject>
#include <QStringListModel>

#include "core/chat_model.h"
#include "core/sources_model.h"

namespace tome::desktop {

class EngineWorker;
class Settings;

class ChatController : public QObject {
  Q_OBJECT
 public:
  ChatController(EngineWorker* worker, Settings* settings, QObject* parent = nullptr);

  ChatModel* chat() { return &m_chat; }
  SourcesModel* sources() { return &m_sources; }
  QStringListModel* threads() { return &m_threads; }
  QString session() const { return m_session; }
  QString thread() const { return m_thread; }  // empty: a new thread (named by the first answer)
  bool busy() const { return m_pendingId != 0; }

  void setSession(const QString& session, const QStringList& threads);
  void setThreads(const QStringList& threads);  // the library's list changed
  bool ask(const QString& question);  // false when busy, empty or no session
  void stop();
  void newThread();
  void switchThread(const QString& thread);
  void selectAnswer(int row);  // fills sources()

 signals:
  void busyChanged(bool busy);
  void threadChanged(const QString& thread);
  void answerStarted(int row);
  void answerFinished(int row);
  void notice(const QString& message);  // what a slow answer is doing (status bar)
  void failed(const QString& message);

 private:
  EngineWorker* m_worker;
  Settings* m_settings;
  ChatModel m_chat;
  SourcesModel m_sources;
  QStringListModel m_threads;
  QString m_session, m_thread;
  quint64 m_nextId = 1, m_pendingId = 0;
  int m_answerRow = -1;
};

}  // namespace tome::desktop
