// SourcesModel (sources_model.h).
#include "core/sources_model.h"

namespace tome::desktop {

QString kindName(SourceLink::Kind k) {
  switch (k) {
    case SourceLink::Kind::Quote: return QStringLiteral("quote");
    case SourceLink::Kind::Attention: return QStringLiteral("attended");
    case SourceLink::Kind::Definition: return QStringLiteral("definition");
  }
  return {};
}

int SourcesModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(m_links.size()); }

QVariant SourcesModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const SourceLink& l = m_links[index.row()];
  switch (role) {
    case Qt::DisplayRole: return QStringLiteral("[%1] %2 — %3").arg(kindName(l.kind), l.label(), l.snippet.left(120));
    case Qt::ToolTipRole: return l.title.isEmpty() ? l.snippet : l.title + QStringLiteral("\n") + l.snippet;
    case LinkRole: return QVariant::fromValue(l);
    case KindRole: return kindName(l.kind);
    case SnippetRole: return l.snippet;
  }
  return {};
}

void SourcesModel::setSources(const QList<SourceLink>& links) {
  beginResetModel();
  m_links = links;
  endResetModel();
}

}  // namespace tome::desktop
