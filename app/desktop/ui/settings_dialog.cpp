// SettingsDialog (settings_dialog.h).
#include "ui/settings_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>

#include "core/settings.h"

namespace tome::desktop {

SettingsDialog::SettingsDialog(Settings* settings, QWidget* parent) : QDialog(parent), m_settings(settings) {
  setObjectName(QStringLiteral("settingsDialog"));
  setWindowTitle(tr("Settings"));
  setAttribute(Qt::WA_DeleteOnClose);
  auto* form = new QFormLayout(this);
  auto* dirRow = new QHBoxLayout;
  m_modelDir = new QLineEdit(settings->modelDir(), this);
  auto* browse = new QPushButton(tr("Browse…"), this);
  auto* reset = new QPushButton(tr("Default"), this);
  dirRow->addWidget(m_modelDir, 1);
  dirRow->addWidget(browse);
  dirRow->addWidget(reset);
  form->addRow(tr("Model directory"), dirRow);
  m_backend = new QComboBox(this);
  m_backend->addItem(tr("Automatic (GPU when present)"), QStringLiteral("auto"));
  m_backend->addItem(tr("GPU (CUDA)"), QStringLiteral("cuda"));
  m_backend->addItem(tr("CPU"), QStringLiteral("cpu"));
  m_backend->setCurrentIndex(std::max(0, m_backend->findData(settings->backend())));
  form->addRow(tr("Backend"), m_backend);
  m_kv = new QComboBox(this);
  m_kv->addItem(tr("f32 (exact)"), QStringLiteral("f32"));
  m_kv->addItem(tr("bf16 (half the disk)"), QStringLiteral("bf16"));
  m_kv->addItem(tr("fp8 (a quarter)"), QStringLiteral("fp8"));
  m_kv->setCurrentIndex(std::max(0, m_kv->findData(settings->kvStorage())));
  form->addRow(tr("KV precision of new sessions"), m_kv);
  const GenerationSettings g = settings->generation();
  m_temperature = new QDoubleSpinBox(this);
  m_temperature->setRange(0, 2);
  m_temperature->setSingleStep(0.1);
  m_temperature->setValue(g.temperature);
  m_temperature->setSpecialValueText(tr("0 (greedy)"));
  form->addRow(tr("Temperature"), m_temperature);
  m_topP = new QDoubleSpinBox(this);
  m_topP->setRange(0.05, 1);
  m_topP->setSingleStep(0.05);
  m_topP->setValue(g.topP);
  form->addRow(tr("Top-p"), m_topP);
  m_maxTokens = new QSpinBox(this);
  m_maxTokens->setRange(1, 8192);
  m_maxTokens->setValue(g.maxTokens);
  form->addRow(tr("Maximum tokens per answer"), m_maxTokens);
  auto* box = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  form->addRow(box);
  connect(browse, &QPushButton::clicked, this, [this] {
    auto* dlg = new QFileDialog(this, tr("Model directory"), m_modelDir->text());
    dlg->setFileMode(QFileDialog::Directory);
    dlg->setAttribute(Qt::WA_DeleteOnClose);
    connect(dlg, &QFileDialog::fileSelected, m_modelDir, &QLineEdit::setText);
    dlg->open();
  });
  connect(reset, &QPushButton::clicked, this, [this] { m_modelDir->setText(Settings::defaultModelDir()); });
  connect(box, &QDialogButtonBox::accepted, this, [this] {
    apply();
    accept();
  });
  connect(box, &QDialogButtonBox::rejected, this, &QDialog::reject);
}

void SettingsDialog::apply() {
  m_settings->setKvStorage(m_kv->currentData().toString());
  GenerationSettings g = m_settings->generation();
  g.temperature = m_temperature->value();
  g.topP = m_topP->value();
  g.maxTokens = m_maxTokens->value();
  m_settings->setGeneration(g);
  m_settings->setModelDir(m_modelDir->text());
  m_settings->setBackend(m_backend->currentData().toString());
}

}  // namespace tome::desktop
