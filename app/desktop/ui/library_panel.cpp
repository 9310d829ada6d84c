// LibraryPanel (library_panel.h).
#include "ui/library_panel.h"

#include <QGridLayout>
#include <QHeaderView>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

#include "core/library_model.h"

namespace tome::desktop {

LibraryPanel::LibraryPanel(LibraryModel* model, QWidget* parent) : QWidget(parent), m_model(model) {
  auto* l = new QVBoxLayout(this);
  l->setContentsMargins(0, 0, 0, 0);
  m_view = new QTableView(this);
  m_view->setObjectName(QStringLiteral("libraryView"));
  m_view->setModel(model);
  m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
  m_view->setSelectionMode(QAbstractItemView::SingleSelection);
  m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_view->verticalHeader()->hide();
  m_view->horizontalHeader()->setStretchLastSection(true);
  m_view->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  m_view->setAlternatingRowColors(true);
  auto* buttons = new QGridLayout;
  auto add = [&](const char* name, const QString& text, int r, int c) {
    auto* b = new QPushButton(text, this);
    b->setObjectName(QLatin1String(name));
    buttons->addWidget(b, r, c);
    return b;
  };
  auto* openFile = add("openFileButton", tr("Open File…"), 0, 0);
  auto* openFolder = add("openFolderButton", tr("Open Folder…"), 0, 1);
  auto* import = add("importButton", tr("Import…"), 0, 2);
  auto* exportB = add("exportButton", tr("Export…"), 1, 0);
  auto* rename = add("renameButton", tr("Rename…"), 1, 1);
  auto* del = add("deleteButton", tr("Delete"), 1, 2);
  l->addWidget(m_view, 1);
  l->addLayout(buttons);
  connect(openFile, &QPushButton::clicked, this, &LibraryPanel::openFileRequested);
  connect(openFolder, &QPushButton::clicked, this, &LibraryPanel::openFolderRequested);
  connect(import, &QPushButton::clicked, this, &LibraryPanel::importRequested);
  auto withSelection = [this](void (LibraryPanel::*sig)(const QString&)) {
    return [this, sig] {
      const QString s = selectedSession();
      if (!s.isEmpty()) emit(this->*sig)(s);
    };
  };
  connect(exportB, &QPushButton::clicked, this, withSelection(&LibraryPanel::exportRequested));
  connect(rename, &QPushButton::clicked, this, withSelection(&LibraryPanel::renameRequested));
  connect(del, &QPushButton::clicked, this, withSelection(&LibraryPanel::deleteRequested));
  connect(m_view, &QTableView::activated, this, [this](const QModelIndex& i) {
    emit openRequested(i.data(LibraryModel::NameRole).toString());
  });
  connect(m_view, &QTableView::clicked, this, [this](const QModelIndex& i) {
    emit openRequested(i.data(LibraryModel::NameRole).toString());
  });
}

QString LibraryPanel::selectedSession() const {
  const QModelIndex i = m_view->currentIndex();
  return i.isValid() ? i.data(LibraryModel::NameRole).toString() : QString();
}

void LibraryPanel::select(const QString& name) {
  const int row = m_model->rowOf(name);
  if (row >= 0) m_view->selectRow(row);
}

}  // namespace tome::desktop
