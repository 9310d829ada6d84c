// MemoryPanel (memory_panel.h).
#include "ui/memory_panel.h"

#include <QLabel>
#include <QVBoxLayout>

namespace tome::desktop {

MemoryPanel::MemoryPanel(QWidget* parent) : QWidget(parent) {
  auto* l = new QVBoxLayout(this);
  m_label = new QLabel(tr("No model loaded."), this);
  m_label->setObjectName(QStringLiteral("memoryText"));
  m_label->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_label->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  l->addWidget(m_label, 1);
}

void MemoryPanel::setBackend(const QString& backend) { m_label->setText(tr("Backend: %1").arg(backend)); }

void MemoryPanel::setReport(const MemoryReport& m) {
  const QString where = m.gpu ? tr("GPU memory") : tr("Memory (CPU backend)");
  m_label->setText(tr("<b>Backend:</b> %1<br><b>%2</b><br>weights: %3<br>document KV: %4<br>threads (largest, while "
                      "answering): %5<br>workspace: %6<br><b>total:</b> %7<br><br><b>Session on disk:</b> %8")
                       .arg(m.backend.toHtmlEscaped(), where, humanBytes(m.weights), humanBytes(m.documentKv),
                            humanBytes(m.threads), humanBytes(m.workspace),
                            humanBytes(m.weights + m.documentKv + m.threads + m.workspace), humanBytes(m.sessionDisk)));
}

QString MemoryPanel::text() const { return m_label->text(); }

}  // namespace tome::desktop
