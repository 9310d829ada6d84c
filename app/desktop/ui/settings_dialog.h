// SettingsDialog: model directory, backend (auto, GPU, CPU), KV precision at rest, sampling
// (temperature, top-p, maximum tokens). Applies to Settings on OK; a changed model directory or
// backend reloads the model on the worker. Opened with open(). GUI thread.
#pragma once

#include <QDialog>

class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;

namespace tome::desktop {

class Settings;

class SettingsDialog : public QDialog {
  Q_OBJECT
 public:
  SettingsDialog(Settings* settings, QWidget* parent = nullptr);
  void apply();

 private:
  Settings* m_settings;
  QLineEdit* m_modelDir;
  QComboBox* m_backend;
  QComboBox* m_kv;
  QDoubleSpinBox* m_temperature;
  QDoubleSpinBox* m_topP;
  QSpinBox* m_maxTokens;
};

}  // namespace tome::desktop
