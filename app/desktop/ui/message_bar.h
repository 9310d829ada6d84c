// MessageBar: errors, warnings and notices shown inside the window (never a modal box that blocks
// work, never a crash): the latest message with a Close button; an optional action button
// (e.g. "Resume"). GUI thread.
#pragma once

#include <QFrame>
#include <functional>

class QLabel;
class QPushButton;

namespace tome::desktop {

class MessageBar : public QFrame {
  Q_OBJECT
 public:
  enum class Level { Info, Warning, Error };
  explicit MessageBar(QWidget* parent = nullptr);
  void show(Level level, const QString& text, const QString& actionText = {}, std::function<void()> action = {});
  QString text() const;
  Level level() const { return m_level; }

 private:
  QLabel* m_label;
  QPushButton* m_action;
  QPushButton* m_close;
  Level m_level = Level::Info;
  std::function<void()> m_onAction;
};

}  // namespace tome::desktop
