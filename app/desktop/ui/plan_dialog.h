// PlanDialog: the pre-ingest plan before anything is read: pages or files, tokens, memory and
// disk it will need, the expected time on this machine's backend, ingest's report; "Read" only
// when it fits, otherwise the refusal and its reason. Window-modal, opened with open() (the GUI
// thread never waits in exec()). GUI thread.
#pragma once

#include <QDialog>

#include "core/types.h"

class QLabel;
class QPlainTextEdit;
class QPushButton;

namespace tome::desktop {

class PlanDialog : public QDialog {
  Q_OBJECT
 public:
  explicit PlanDialog(const IngestPlan& plan, QWidget* parent = nullptr);
  static QString summary(const IngestPlan& plan);  // the text shown (also for tests)
  QPushButton* readButton() const { return m_read; }

 private:
  QPushButton* m_read;
};

}  // namespace tome::desktop
