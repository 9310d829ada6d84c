// CodeView (code_view.h).
#include "ui/code_view.h"

#include <QFile>
#include <QLabel>
#include <QSplitter>
#include <QTextBlock>
#include <QTreeView>
#include <QVBoxLayout>

#include "core/completion_controller.h"
#include "core/file_tree_model.h"
#include "ui/code_editor.h"

namespace tome::desktop {

CodeView::CodeView(FileTreeModel* files, CompletionController* completion, QWidget* parent)
    : QWidget(parent), m_files(files), m_completion(completion) {
  auto* l = new QVBoxLayout(this);
  l->setContentsMargins(0, 0, 0, 0);
  auto* split = new QSplitter(this);
  m_tree = new QTreeView(split);
  m_tree->setObjectName(QStringLiteral("fileTree"));
  m_tree->setModel(files);
  m_tree->setHeaderHidden(true);
  auto* right = new QWidget(split);
  auto* rl = new QVBoxLayout(right);
  rl->setContentsMargins(0, 0, 0, 0);
  m_header = new QLabel(tr("Open a repository session to browse and complete its code (Tab accepts a "
                           "completion, Esc dismisses it, Ctrl+Space asks for one)."), right);
  m_header->setWordWrap(true);
  m_editor = new CodeEditor(right);
  rl->addWidget(m_header);
  rl->addWidget(m_editor, 1);
  split->addWidget(m_tree);
  split->addWidget(right);
  split->setStretchFactor(1, 3);
  l->addWidget(split);
  connect(m_tree, &QTreeView::activated, this, [this](const QModelIndex& i) {
    if (i.data(FileTreeModel::IsFileRole).toBool()) openFile(i.data(FileTreeModel::PathRole).toString());
  });
  connect(m_tree, &QTreeView::clicked, this, [this](const QModelIndex& i) {
    if (i.data(FileTreeModel::IsFileRole).toBool()) openFile(i.data(FileTreeModel::PathRole).toString());
  });
  connect(m_editor, &CodeEditor::completionWanted, this, [this](const QString& prefix, const QString& suffix) {
    if (!m_file.isEmpty()) m_pending = m_completion->request(prefix, suffix);
  });
  connect(m_editor, &CodeEditor::completionDismissed, m_completion, &CompletionController::cancel);
  connect(m_completion, &CompletionController::ready, this, [this](quint64 id, const QString& text) {
    if (id == m_pending && !text.isEmpty()) m_editor->setGhostText(text);
  });
}

void CodeView::setRoot(const QString& root) {
  m_root = root;
  m_file.clear();
  m_editor->clear();
  m_header->setText(root.isEmpty() ? tr("This session is not a repository.") : root);
}

bool CodeView::openFile(const QString& relativePath, int line) {
  QFile f(m_root + QLatin1Char('/') + relativePath);
  if (m_root.isEmpty() || !f.open(QIODevice::ReadOnly)) {
    m_header->setText(tr("%1 cannot be opened (not on this machine any more?)").arg(relativePath));
    return false;
  }
  m_editor->setPlainText(QString::fromUtf8(f.readAll()));
  m_file = relativePath;
  m_header->setText(line > 0 ? tr("%1, line %2").arg(relativePath).arg(line) : relativePath);
  const QModelIndex idx = m_files->indexOfPath(relativePath);
  if (idx.isValid()) {
    m_tree->scrollTo(idx);
    m_tree->setCurrentIndex(idx);
  }
  if (line > 0) {
    QTextCursor c(m_editor->document()->findBlockByNumber(line - 1));
    m_editor->setTextCursor(c);
    m_editor->centerCursor();
  }
  return true;
}

int CodeView::currentLine() const { return m_editor->textCursor().blockNumber() + 1; }

}  // namespace tome::desktop
