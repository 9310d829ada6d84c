// SourcesModel: the source links of one answer (quotes, attended passages, definitions) for the
// sources panel. GUI thread only.
#pragma once

#include <QAbstractListModel>

#include "core/types.h"

namespace tome::desktop {

class SourcesModel : public QAbstractListModel {
  Q_OBJECT
 public:
  enum Roles { LinkRole = Qt::UserRole + 1, KindRole, SnippetRole };
  explicit SourcesModel(QObject* parent = nullptr) : QAbstractListModel(parent) {}
  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  void setSources(const QList<SourceLink>& links);
  const QList<SourceLink>& sources() const { return m_links; }

 private:
  QList<SourceLink> m_links;
};

QString kindName(SourceLink::Kind k);

}  // namespace tome::desktop
