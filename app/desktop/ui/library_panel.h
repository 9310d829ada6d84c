// LibraryPanel: the library window's session table (model, tokens, disk size, date) with Open
// File, Open Folder, Import, Export, Rename and Delete. Emits what the user asked for; the main
// window runs the dialogs' results through AppController. GUI thread.
#pragma once

#include <QWidget>

class QTableView;
class QPushButton;

namespace tome::desktop {

class LibraryModel;

class LibraryPanel : public QWidget {
  Q_OBJECT
 public:
  LibraryPanel(LibraryModel* model, QWidget* parent = nullptr);
  QTableView* view() const { return m_view; }
  QString selectedSession() const;
  void select(const QString& name);

 signals:
  void openRequested(const QString& session);
  void openFileRequested();
  void openFolderRequested();
  void importRequested();
  void exportRequested(const QString& session);
  void renameRequested(const QString& session);
  void deleteRequested(const QString& session);

 private:
  LibraryModel* m_model;
  QTableView* m_view;
};

}  // namespace tome::desktop
