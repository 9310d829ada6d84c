// IngestPanel: the running plan or read: a progress bar with tokens done and total, tokens/s and
// time left, and Cancel (the read stops within one engine layer; the last checkpoint is kept).
// Hidden when nothing runs. GUI thread; driven by IngestController.
#pragma once

#include <QWidget>

class QLabel;
class QProgressBar;
class QPushButton;

namespace tome::desktop {

class IngestController;

class IngestPanel : public QWidget {
  Q_OBJECT
 public:
  IngestPanel(IngestController* ingest, QWidget* parent = nullptr);
  QString statusText() const;

 private:
  IngestController* m_ingest;
  QLabel* m_label;
  QProgressBar* m_bar;
  QPushButton* m_cancel;
};

}  // namespace tome::desktop
