// PlanDialog (plan_dialog.h).
#include "ui/plan_dialog.h"

#include <QDialogButtonBox>
#include <QLabel>
#include <QLocale>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace tome::desktop {

QString PlanDialog::summary(const IngestPlan& p) {
  QStringList lines;
  lines << tr("<b>%1</b> → session <b>%2</b>").arg(p.path.toHtmlEscaped(), p.session.toHtmlEscaped());
  if (!p.kind.isEmpty()) {
    QString what = p.kind;
    if (p.pages > 0) what += tr(", %1 pages").arg(p.pages);
    if (p.kind == QLatin1String("repository")) what += tr(", %1 files").arg(p.files);
    lines << tr("Content: %1%2").arg(what, p.title.isEmpty() ? QString() : QStringLiteral(" — ") + p.title.toHtmlEscaped());
  }
  if (p.tokens > 0) {
    lines << tr("Tokens: %1 (exact, with the document template)").arg(QLocale().toString(p.tokens));
    lines << tr("Memory on %1: %2 (document KV %3)%4")
                 .arg(p.backend.toHtmlEscaped(), humanBytes(p.memoryBytes), humanBytes(p.kvBytes),
                      p.memoryAvailable >= 0 ? tr("; %1 available").arg(humanBytes(p.memoryAvailable)) : QString());
    lines << tr("Disk: %1%2").arg(humanBytes(p.diskBytes),
                                  p.diskAvailable >= 0 ? tr("; %1 free").arg(humanBytes(p.diskAvailable)) : QString());
    lines << tr("Expected time: about %1 on this machine").arg(humanSeconds(p.expectedSeconds).toHtmlEscaped());
  }
  lines << (p.fits ? tr("<span style='color:#1b5e20'>It fits: nothing will be left out.</span>")
                   : tr("<span style='color:#b71c1c'><b>Not read:</b> %1</span>").arg(p.whyNot.toHtmlEscaped()));
  return lines.join(QStringLiteral("<br>"));
}

PlanDialog::PlanDialog(const IngestPlan& plan, QWidget* parent) : QDialog(parent) {
  setObjectName(QStringLiteral("planDialog"));
  setWindowTitle(tr("Read %1?").arg(plan.session));
  setWindowModality(Qt::WindowModal);
  setAttribute(Qt::WA_DeleteOnClose);
  auto* l = new QVBoxLayout(this);
  auto* text = new QLabel(summary(plan), this);
  text->setObjectName(QStringLiteral("planSummary"));
  text->setWordWrap(true);
  text->setTextInteractionFlags(Qt::TextSelectableByMouse);
  l->addWidget(text);
  if (!plan.report.isEmpty()) {
    auto* report = new QPlainTextEdit(plan.report, this);
    report->setReadOnly(true);
    report->setMaximumHeight(160);
    l->addWidget(report);
  }
  auto* box = new QDialogButtonBox(this);
  m_read = box->addButton(tr("Read"), QDialogButtonBox::AcceptRole);
  m_read->setObjectName(QStringLiteral("planReadButton"));
  m_read->setEnabled(plan.fits);
  box->addButton(plan.fits ? QDialogButtonBox::Cancel : QDialogButtonBox::Close);
  l->addWidget(box);
  connect(box, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(box, &QDialogButtonBox::rejected, this, &QDialog::reject);
  resize(560, sizeHint().height());
}

}  // namespace tome::desktop
