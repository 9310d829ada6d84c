// ChatView: the open session's conversation. A thread selector and "New thread", the transcript
// (Markdown, answers streaming token by token, each answer followed by its source links and a
// Copy link), the question field with Ask and Stop. Clicking a source emits sourceClicked.
// GUI thread; driven by ChatController.
#pragma once

#include <QWidget>

#include "core/types.h"

class QComboBox;
class QLineEdit;
class QPushButton;
class QTextBrowser;
class QTimer;

namespace tome::desktop {

class ChatController;

class ChatView : public QWidget {
  Q_OBJECT
 public:
  ChatView(ChatController* chat, QWidget* parent = nullptr);
  QTextBrowser* transcript() const { return m_transcript; }
  // The transcript as Markdown (what is rendered); links are src:ROW:K and copy:ROW.
  QString markdown() const;
  void setEnabledForSession(bool enabled);

 signals:
  void sourceClicked(const tome::desktop::SourceLink& link);

 private:
  void render();
  void onAnchor(const QUrl& url);
  void updateButtons();
  ChatController* m_chat;
  QComboBox* m_threads;
  QPushButton* m_newThread;
  QTextBrowser* m_transcript;
  QLineEdit* m_input;
  QPushButton* m_ask;
  QPushButton* m_stop;
  QTimer* m_renderTimer;
  bool m_sessionEnabled = false;
};

}  // namespace tome::desktop
