// CodeEditor (code_editor.h).
#include "ui/code_editor.h"

#include <QFontDatabase>
#include <QKeyEvent>
#include <QPainter>
#include <QTextBlock>
#include <QTimer>

namespace tome::desktop {

CodeEditor::CodeEditor(QWidget* parent) : QPlainTextEdit(parent) {
  setObjectName(QStringLiteral("codeEditor"));
  setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  setLineWrapMode(QPlainTextEdit::NoWrap);
  m_timer = new QTimer(this);
  m_timer->setSingleShot(true);
  m_timer->setInterval(700);
  connect(m_timer, &QTimer::timeout, this, &CodeEditor::requestCompletion);
  connect(this, &QPlainTextEdit::cursorPositionChanged, this, [this] {
    if (!m_ghost.isEmpty() && textCursor().position() != m_ghostPos) clearGhost();
  });
}

void CodeEditor::setCompletionDelay(int ms) { m_timer->setInterval(ms); }

void CodeEditor::requestCompletion() {
  const QString all = toPlainText();
  const int pos = textCursor().position();
  emit completionWanted(all.left(pos), all.mid(pos));
}

void CodeEditor::setGhostText(const QString& text) {
  m_ghost = text;
  m_ghostPos = textCursor().position();
  viewport()->update();
}

void CodeEditor::clearGhost() {
  if (m_ghost.isEmpty()) return;
  m_ghost.clear();
  m_ghostPos = -1;
  viewport()->update();
  emit completionDismissed();
}

void CodeEditor::keyPressEvent(QKeyEvent* e) {
  if (!m_ghost.isEmpty() && e->key() == Qt::Key_Tab && e->modifiers() == Qt::NoModifier) {
    const QString g = m_ghost;
    m_ghost.clear();
    m_ghostPos = -1;
    textCursor().insertText(g);
    viewport()->update();
    return;
  }
  if (e->key() == Qt::Key_Escape) {
    m_timer->stop();
    clearGhost();
    return;
  }
  if (e->key() == Qt::Key_Space && (e->modifiers() & Qt::ControlModifier)) {
    requestCompletion();
    return;
  }
  clearGhost();
  QPlainTextEdit::keyPressEvent(e);
  if (!e->text().isEmpty()) m_timer->start();
}

void CodeEditor::paintEvent(QPaintEvent* e) {
  QPlainTextEdit::paintEvent(e);
  if (m_ghost.isEmpty()) return;
  QPainter p(viewport());
  p.setPen(QColor(150, 150, 150));
  p.setFont(font());
  const QRect r = cursorRect();
  const QStringList lines = m_ghost.split(QLatin1Char('\n'));
  const int h = fontMetrics().height();
  const int left = static_cast<int>(contentOffset().x() + document()->documentMargin());
  for (int i = 0; i < lines.size(); ++i)
    p.drawText(QPoint(i == 0 ? r.right() + 1 : left, r.top() + fontMetrics().ascent() + i * h), lines[i]);
}

}  // namespace tome::desktop
