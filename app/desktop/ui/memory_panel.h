// MemoryPanel: the backend (GPU name or CPU) and the memory breakdown of the open session:
// weights, document KV, threads, workspace, and the session's size on disk. GUI thread.
#pragma once

#include <QWidget>

#include "core/types.h"

class QLabel;

namespace tome::desktop {

class MemoryPanel : public QWidget {
  Q_OBJECT
 public:
  explicit MemoryPanel(QWidget* parent = nullptr);
  void setReport(const MemoryReport& m);
  void setBackend(const QString& backend);
  QString text() const;

 private:
  QLabel* m_label;
};

}  // namespace tome::desktop
