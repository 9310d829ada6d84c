// SourcesPanel: the sources of the selected answer: the spans it quotes, found in the source
// text, and definitions for "where is X defined?"; clicking one opens the viewer there. The
// passages the model attended to most need an engine API that does not exist yet: the panel says
// so instead of showing anything made up. GUI thread.
#pragma once

#include <QWidget>

#include "core/types.h"

class QLabel;
class QListView;

namespace tome::desktop {

class SourcesModel;

class SourcesPanel : public QWidget {
  Q_OBJECT
 public:
  SourcesPanel(SourcesModel* model, QWidget* parent = nullptr);
  QListView* view() const { return m_view; }

 signals:
  void sourceClicked(const tome::desktop::SourceLink& link);

 private:
  QListView* m_view;
  QLabel* m_attention;
};

}  // namespace tome::desktop
