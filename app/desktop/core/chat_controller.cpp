// ChatController (chat_controller.h).
#include "core/chat_controller.h"

#include "core/engine_worker.h"
#include "core/settings.h"

namespace tome::desktop {

ChatController::ChatController(EngineWorker* worker, Settings* settings, QObject* parent)
    : QObject(parent), m_worker(worker), m_settings(settings) {
  connect(worker, &EngineWorker::answerToken, this, [this](quint64 id, const QString& piece) {
    if (id == m_pendingId) m_chat.appendText(m_answerRow, piece);
  });
  connect(worker, &EngineWorker::answerNote, this, [this](quint64 id, const QString& note) {
    if (id == m_pendingId) emit notice(note);
  });
  connect(worker, &EngineWorker::answerFinished, this,
          [this](quint64 id, const QString& session, const QString& thread, const QString& text,
                 const QList<SourceLink>& sources, bool stopped, const QString& error) {
            if (id != m_pendingId) return;
            const int row = m_answerRow;
            m_pendingId = 0;
            m_answerRow = -1;
            m_chat.finish(row, error.isEmpty() ? text : QString(), sources, stopped, error);
            if (!error.isEmpty()) emit failed(QStringLiteral("Answer: %1").arg(error));
            if (session == m_session && !thread.isEmpty() && thread != m_thread) {
              m_thread = thread;
              if (!m_threads.stringList().contains(thread)) setThreads(m_threads.stringList() << thread);
              emit threadChanged(thread);
            }
            emit busyChanged(false);
            emit answerFinished(row);
            selectAnswer(row);
          });
  connect(worker, &EngineWorker::threadLoaded, this,
          [this](const QString& session, const QString& thread, const QList<ChatMessage>& msgs) {
            if (session != m_session || thread != m_thread || busy()) return;
            m_chat.setMessages(msgs);
            m_sources.setSources({});
            for (int i = static_cast<int>(msgs.size()) - 1; i >= 0; --i)
              if (msgs[i].role == ChatMessage::Role::Assistant) {
                selectAnswer(i);
                break;
              }
          });
}

void ChatController::setSession(const QString& session, const QStringList& threads) {
  if (busy()) stop();
  m_pendingId = 0;
  m_session = session;
  setThreads(threads);
  m_chat.clear();
  m_sources.setSources({});
  if (threads.isEmpty()) {
    newThread();
  } else {
    switchThread(threads.back());
  }
}

void ChatController::setThreads(const QStringList& threads) {
  if (threads != m_threads.stringList()) m_threads.setStringList(threads);
}

bool ChatController::ask(const QString& question) {
  const QString q = question.trimmed();
  if (busy() || q.isEmpty() || m_session.isEmpty()) return false;
  ChatMessage user;
  user.role = ChatMessage::Role::User;
  user.text = q;
  m_chat.appendMessage(user);
  ChatMessage answer;
  answer.role = ChatMessage::Role::Assistant;
  answer.streaming = true;
  m_answerRow = m_chat.appendMessage(answer);
  m_pendingId = m_nextId++;
  m_worker->ask(m_pendingId, m_session, m_thread, q, m_settings->generation());
  emit busyChanged(true);
  emit answerStarted(m_answerRow);
  return true;
}

void ChatController::stop() {
  if (busy()) m_worker->stopAnswer();
}

void ChatController::newThread() {
  if (busy()) return;
  m_thread.clear();
  m_chat.clear();
  m_sources.setSources({});
  emit threadChanged(m_thread);
}

void ChatController::switchThread(const QString& thread) {
  if (busy() || thread.isEmpty()) return;
  m_thread = thread;
  m_chat.clear();
  m_sources.setSources({});
  emit threadChanged(thread);
  m_worker->loadThread(m_session, thread);
}

void ChatController::selectAnswer(int row) {
  const ChatMessage* m = m_chat.at(row);
  m_sources.setSources(m ? m->sources : QList<SourceLink>{});
}

}  // namespace tome::desktop
