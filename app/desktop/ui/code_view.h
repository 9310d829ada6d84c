// CodeView: a repository session's file tree and an editor. Opening a file reads it from the
// repository on disk; completion at the cursor (after a pause, or Ctrl+Space) comes from the
// engine with the whole repository in context and shows as ghost text. GUI thread.
#pragma once

#include <QWidget>

#include "core/types.h"

class QLabel;
class QTreeView;

namespace tome::desktop {

class CodeEditor;
class CompletionController;
class FileTreeModel;

class CodeView : public QWidget {
  Q_OBJECT
 public:
  CodeView(FileTreeModel* files, CompletionController* completion, QWidget* parent = nullptr);
  void setRoot(const QString& root);  // the repository folder ("" when the session is not one)
  bool openFile(const QString& relativePath, int line = 0);
  QString currentFile() const { return m_file; }
  int currentLine() const;
  CodeEditor* editor() const { return m_editor; }
  QTreeView* tree() const { return m_tree; }

 private:
  FileTreeModel* m_files;
  CompletionController* m_completion;
  QTreeView* m_tree;
  QLabel* m_header;
  CodeEditor* m_editor;
  QString m_root, m_file;
  quint64 m_pending = 0;
};

}  // namespace tome::desktop
