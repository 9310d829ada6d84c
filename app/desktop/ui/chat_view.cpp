// ChatView (chat_view.h).
#include "ui/chat_view.h"

#include <QClipboard>
#include <QComboBox>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollBar>
#include <QStringListModel>
#include <QTextBrowser>
#include <QTimer>
#include <QVBoxLayout>

#include "core/chat_controller.h"

namespace tome::desktop {
namespace {

QString escapeMarkdown(QString s) {
  for (const char* c : {"\\", "*", "_", "[", "]", "<", ">", "#", "`"}) s.replace(QLatin1String(c), QLatin1String("\\") + QLatin1String(c));
  return s;
}

}  // namespace

ChatView::ChatView(ChatController* chat, QWidget* parent) : QWidget(parent), m_chat(chat) {
  auto* l = new QVBoxLayout(this);
  auto* top = new QHBoxLayout;
  m_threads = new QComboBox(this);
  m_threads->setObjectName(QStringLiteral("threadSelector"));
  m_threads->setModel(chat->threads());
  m_threads->setPlaceholderText(tr("new thread"));
  m_newThread = new QPushButton(tr("New thread"), this);
  m_newThread->setObjectName(QStringLiteral("newThreadButton"));
  top->addWidget(new QLabel(tr("Thread:"), this));
  top->addWidget(m_threads, 1);
  top->addWidget(m_newThread);
  m_transcript = new QTextBrowser(this);
  m_transcript->setObjectName(QStringLiteral("transcript"));
  m_transcript->setOpenLinks(false);
  auto* bottom = new QHBoxLayout;
  m_input = new QLineEdit(this);
  m_input->setObjectName(QStringLiteral("questionInput"));
  m_input->setPlaceholderText(tr("Ask about the document…"));
  m_ask = new QPushButton(tr("Ask"), this);
  m_ask->setObjectName(QStringLiteral("askButton"));
  m_stop = new QPushButton(tr("Stop"), this);
  m_stop->setObjectName(QStringLiteral("stopButton"));
  bottom->addWidget(m_input, 1);
  bottom->addWidget(m_ask);
  bottom->addWidget(m_stop);
  l->addLayout(top);
  l->addWidget(m_transcript, 1);
  l->addLayout(bottom);

  m_renderTimer = new QTimer(this);
  m_renderTimer->setSingleShot(true);
  m_renderTimer->setInterval(30);  // at most ~30 renders a second while tokens stream
  connect(m_renderTimer, &QTimer::timeout, this, &ChatView::render);
  auto schedule = [this] { if (!m_renderTimer->isActive()) m_renderTimer->start(); };
  ChatModel* model = chat->chat();
  connect(model, &QAbstractItemModel::modelReset, this, schedule);
  connect(model, &QAbstractItemModel::rowsInserted, this, schedule);
  connect(model, &QAbstractItemModel::dataChanged, this, schedule);
  connect(m_transcript, &QTextBrowser::anchorClicked, this, &ChatView::onAnchor);
  auto ask = [this] {
    if (m_chat->ask(m_input->text())) m_input->clear();
  };
  connect(m_ask, &QPushButton::clicked, this, ask);
  connect(m_input, &QLineEdit::returnPressed, this, ask);
  connect(m_stop, &QPushButton::clicked, chat, &ChatController::stop);
  connect(m_newThread, &QPushButton::clicked, chat, &ChatController::newThread);
  connect(m_threads, &QComboBox::activated, this, [this](int i) {
    m_chat->switchThread(m_chat->threads()->stringList().value(i));
  });
  connect(chat, &ChatController::threadChanged, this, [this](const QString& t) {
    m_threads->setCurrentIndex(static_cast<int>(m_chat->threads()->stringList().indexOf(t)));
  });
  connect(chat, &ChatController::busyChanged, this, &ChatView::updateButtons);
  updateButtons();
}

void ChatView::setEnabledForSession(bool enabled) {
  m_sessionEnabled = enabled;
  updateButtons();
}

void ChatView::updateButtons() {
  const bool busy = m_chat->busy();
  m_ask->setEnabled(m_sessionEnabled && !busy);
  m_input->setEnabled(m_sessionEnabled);
  m_stop->setEnabled(busy);
  m_newThread->setEnabled(m_sessionEnabled && !busy);
  m_threads->setEnabled(m_sessionEnabled && !busy);
}

QString ChatView::markdown() const {
  QString md;
  const auto& msgs = m_chat->chat()->messages();
  for (int row = 0; row < msgs.size(); ++row) {
    const ChatMessage& m = msgs[row];
    if (m.role == ChatMessage::Role::User) {
      md += QStringLiteral("**You:** %1\n\n").arg(escapeMarkdown(m.text));
      continue;
    }
    md += QStringLiteral("**Tome:** ") + (m.text.isEmpty() && m.streaming ? QStringLiteral("…") : m.text);
    if (m.streaming) md += QStringLiteral(" ▌");
    if (m.stopped) md += QStringLiteral(" *(stopped)*");
    if (!m.error.isEmpty()) md += QStringLiteral("\n\n*Error: %1*").arg(escapeMarkdown(m.error));
    md += QStringLiteral("\n\n");
    if (!m.streaming) {
      QStringList links;
      for (int k = 0; k < m.sources.size(); ++k)
        links << QStringLiteral("[%1](src:%2:%3)").arg(escapeMarkdown(m.sources[k].label())).arg(row).arg(k);
      md += (links.isEmpty() ? QStringLiteral("*No source found in the document.*") : QStringLiteral("Sources: ") + links.join(QStringLiteral(" · "))) +
            QStringLiteral(" · [Copy](copy:%1)\n\n---\n\n").arg(row);
    }
  }
  return md;
}

void ChatView::render() {
  QScrollBar* bar = m_transcript->verticalScrollBar();
  const bool atEnd = bar->value() >= bar->maximum() - 4;
  m_transcript->setMarkdown(markdown());
  if (atEnd) bar->setValue(bar->maximum());
}

void ChatView::onAnchor(const QUrl& url) {
  const QStringList parts = url.toString().split(QLatin1Char(':'));
  if (parts.size() == 3 && parts[0] == QLatin1String("src")) {
    const ChatMessage* m = m_chat->chat()->at(parts[1].toInt());
    const int k = parts[2].toInt();
    if (m && k >= 0 && k < m->sources.size()) {
      m_chat->selectAnswer(parts[1].toInt());
      emit sourceClicked(m->sources[k]);
    }
  } else if (parts.size() == 2 && parts[0] == QLatin1String("copy")) {
    if (const ChatMessage* m = m_chat->chat()->at(parts[1].toInt())) QGuiApplication::clipboard()->setText(m->text);
  }
}

}  // namespace tome::desktop
