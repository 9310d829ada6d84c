// IngestPanel (ingest_panel.h).
#include "ui/ingest_panel.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>

#include "core/ingest_controller.h"
#include "core/types.h"

namespace tome::desktop {

IngestPanel::IngestPanel(IngestController* ingest, QWidget* parent) : QWidget(parent), m_ingest(ingest) {
  setObjectName(QStringLiteral("ingestPanel"));
  auto* l = new QHBoxLayout(this);
  l->setContentsMargins(8, 2, 8, 2);
  m_label = new QLabel(this);
  m_label->setObjectName(QStringLiteral("ingestStatus"));
  m_bar = new QProgressBar(this);
  m_bar->setObjectName(QStringLiteral("ingestProgress"));
  m_cancel = new QPushButton(tr("Cancel"), this);
  m_cancel->setObjectName(QStringLiteral("ingestCancel"));
  l->addWidget(m_label, 1);
  l->addWidget(m_bar, 1);
  l->addWidget(m_cancel);
  connect(m_cancel, &QPushButton::clicked, ingest, &IngestController::cancel);
  connect(ingest, &IngestController::stateChanged, this, [this](IngestController::State s) {
    setVisible(s == IngestController::State::Planning || s == IngestController::State::Reading);
    if (s == IngestController::State::Planning) {
      m_label->setText(tr("Reading the document and counting tokens…"));
      m_bar->setRange(0, 0);
    } else if (s == IngestController::State::Reading) {
      m_label->setText(tr("Reading %1 into the session…").arg(m_ingest->plan().session));
      m_bar->setRange(0, 1000);
      m_bar->setValue(0);
    }
  });
  connect(ingest, &IngestController::planProgress, this, [this](const QString& stage, qint64 done, qint64 total) {
    m_label->setText(total > 0 ? tr("Preparing: %1 %2/%3").arg(stage).arg(done).arg(total) : tr("Preparing: %1").arg(stage));
  });
  connect(ingest, &IngestController::progress, this, [this](qint64 done, qint64 total, double tps, double left) {
    const QLocale loc;
    m_bar->setValue(total > 0 ? static_cast<int>(done * 1000 / total) : 0);
    m_bar->setFormat(QStringLiteral("%p%"));
    m_label->setText(tr("%1 / %2 tokens · %3 tokens/s · %4 left")
                         .arg(loc.toString(done), loc.toString(total), loc.toString(tps, 'f', 0), humanSeconds(left)));
  });
  hide();
}

QString IngestPanel::statusText() const { return m_label->text(); }

}  // namespace tome::desktop
