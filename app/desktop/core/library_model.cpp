// LibraryModel (library_model.h).
#include "core/library_model.h"

#include <QLocale>

namespace tome::desktop {

int LibraryModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(m_rows.size()); }
int LibraryModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant LibraryModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const SessionRow& r = m_rows[index.row()];
  if (role == SessionRole) return QVariant::fromValue(r);
  if (role == NameRole) return r.name;
  if (role == Qt::ToolTipRole) return r.path;
  if (role == Qt::TextAlignmentRole && (index.column() == Tokens || index.column() == Disk))
    return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole) return {};
  switch (index.column()) {
    case Name: return r.name;
    case Model: return r.model;
    case Tokens: return QLocale().toString(r.tokens);
    case Disk: return humanBytes(r.diskBytes);
    case Updated: return QLocale().toString(r.updated.toLocalTime(), QLocale::ShortFormat);
    case State:
      return r.complete() ? (r.kind.isEmpty() ? QStringLiteral("empty") : r.kind)
                          : QStringLiteral("unfinished: %1 of %2 tokens").arg(r.tokens).arg(r.target);
  }
  return {};
}

QVariant LibraryModel::headerData(int section, Qt::Orientation o, int role) const {
  if (o != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case Name: return tr("Session");
    case Model: return tr("Model");
    case Tokens: return tr("Tokens");
    case Disk: return tr("On disk");
    case Updated: return tr("Updated");
    case State: return tr("Kind / state");
  }
  return {};
}

void LibraryModel::setSessions(const QList<SessionRow>& rows) {
  beginResetModel();
  m_rows = rows;
  endResetModel();
}

const SessionRow* LibraryModel::find(const QString& name) const {
  for (const auto& r : m_rows)
    if (r.name == name) return &r;
  return nullptr;
}

int LibraryModel::rowOf(const QString& name) const {
  for (int i = 0; i < m_rows.size(); ++i)
    if (m_rows[i].name == name) return i;
  return -1;
}

QString LibraryModel::uniqueName(const QString& base) const {
  QString name = base.isEmpty() ? QStringLiteral("session") : base;
  for (int n = 2; find(name); ++n) name = QStringLiteral("%1 (%2)").arg(base).arg(n);
  return name;
}

}  // namespace tome::desktop
