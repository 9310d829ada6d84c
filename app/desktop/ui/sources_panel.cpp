// SourcesPanel (sources_panel.h).
#include "ui/sources_panel.h"

#include <QLabel>
#include <QListView>
#include <QVBoxLayout>

#include "core/sources_model.h"

namespace tome::desktop {

SourcesPanel::SourcesPanel(SourcesModel* model, QWidget* parent) : QWidget(parent) {
  auto* l = new QVBoxLayout(this);
  l->setContentsMargins(0, 0, 0, 0);
  m_view = new QListView(this);
  m_view->setObjectName(QStringLiteral("sourcesView"));
  m_view->setModel(model);
  m_view->setWordWrap(true);
  m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_attention = new QLabel(tr("<i>Attended: the passages the answer drew on most (attention mass of the last "
                              "cross-decoder layer over the document). Quoted: spans of the answer found in the "
                              "text.</i>"),
                           this);
  m_attention->setObjectName(QStringLiteral("attentionNote"));
  m_attention->setWordWrap(true);
  l->addWidget(m_view, 1);
  l->addWidget(m_attention);
  connect(m_view, &QListView::clicked, this, [this](const QModelIndex& i) {
    emit sourceClicked(i.data(SourcesModel::LinkRole).value<SourceLink>());
  });
  connect(m_view, &QListView::activated, this, [this](const QModelIndex& i) {
    emit sourceClicked(i.data(SourcesModel::LinkRole).value<SourceLink>());
  });
}

}  // namespace tome::desktop
