// MessageBar (message_bar.h).
#include "ui/message_bar.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>

namespace tome::desktop {

MessageBar::MessageBar(QWidget* parent) : QFrame(parent) {
  setObjectName(QStringLiteral("messageBar"));
  setFrameShape(QFrame::StyledPanel);
  auto* l = new QHBoxLayout(this);
  l->setContentsMargins(8, 4, 8, 4);
  m_label = new QLabel(this);
  m_label->setObjectName(QStringLiteral("messageText"));
  m_label->setWordWrap(true);
  m_label->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_action = new QPushButton(this);
  m_action->setObjectName(QStringLiteral("messageAction"));
  m_close = new QPushButton(tr("Close"), this);
  l->addWidget(m_label, 1);
  l->addWidget(m_action);
  l->addWidget(m_close);
  connect(m_close, &QPushButton::clicked, this, &QWidget::hide);
  connect(m_action, &QPushButton::clicked, this, [this] {
    hide();
    if (m_onAction) m_onAction();
  });
  hide();
}

void MessageBar::show(Level level, const QString& text, const QString& actionText, std::function<void()> action) {
  m_level = level;
  const char* colors[] = {"#e8f0fe", "#fff4e5", "#fdecea"};
  setStyleSheet(QStringLiteral("#messageBar { background: %1; }").arg(QLatin1String(colors[static_cast<int>(level)])));
  m_label->setText(text);
  m_onAction = std::move(action);
  m_action->setText(actionText);
  m_action->setVisible(!actionText.isEmpty());
  QFrame::show();
}

QString MessageBar::text() const { return isVisible() ? m_label->text() : QString(); }

}  // namespace tome::desktop
