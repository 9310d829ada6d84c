// CodeEditor: a plain-text code editor that shows a completion at the cursor as ghost text (grey,
// not part of the document): Tab accepts it, Esc dismisses it, typing dismisses it and asks for a
// new one after a pause (completionWanted). GUI thread.
#pragma once

#include <QPlainTextEdit>

class QTimer;

namespace tome::desktop {

class CodeEditor : public QPlainTextEdit {
  Q_OBJECT
 public:
  explicit CodeEditor(QWidget* parent = nullptr);
  void setGhostText(const QString& text);  // shown at the current cursor position
  QString ghostText() const { return m_ghost; }
  void clearGhost();
  void setCompletionDelay(int ms);
  void requestCompletion();  // now (Ctrl+Space does this too)

 signals:
  void completionWanted(const QString& prefix, const QString& suffix);
  void completionDismissed();

 protected:
  void keyPressEvent(QKeyEvent* e) override;
  void paintEvent(QPaintEvent* e) override;

 private:
  QString m_ghost;
  int m_ghostPos = -1;
  QTimer* m_timer;
};

}  // namespace tome::desktop
