// LibraryModel: the library window's table of sessions (name, model, tokens, size on disk, date,
// state). Filled from EngineWorker::sessionsChanged on the GUI thread; read-only to views.
#pragma once

#include <QAbstractTableModel>
#include <QList>

#include "core/types.h"

namespace tome::desktop {

class LibraryModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { Name, Model, Tokens, Disk, Updated, State, ColumnCount };
  enum Roles { SessionRole = Qt::UserRole + 1, NameRole };
  explicit LibraryModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

  void setSessions(const QList<SessionRow>& rows);
  const QList<SessionRow>& sessions() const { return m_rows; }
  const SessionRow* find(const QString& name) const;
  int rowOf(const QString& name) const;
  // `base`, or "base (2)", "base (3)" … : a name no session has.
  QString uniqueName(const QString& base) const;

 private:
  QList<SessionRow> m_rows;
};

}  // namespace tome::desktop
