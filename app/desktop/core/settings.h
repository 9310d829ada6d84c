// Settings: the app's persistent choices (QSettings): model directory, backend, KV precision at
// rest, sampling (temperature, top-p, maximum tokens), library file. GUI thread only; the engine
// worker receives copies with each job.
#pragma once

#include <QObject>
#include <QSettings>
#include <memory>

#include "core/engine_worker.h"

namespace tome::desktop {

class Settings : public QObject {
  Q_OBJECT
 public:
  // file empty: the user's settings (~/.config/tome/tome-desktop.conf); else that INI file (tests).
  explicit Settings(const QString& file = {}, QObject* parent = nullptr);

  // The embedded default model: $TOME_MODEL, <prefix>/share/tome/models/tome-25m next to the
  // installed binary, or resources/models/tome-25m of the source tree this was built from.
  static QString defaultModelDir();
  // $TOME_LIBRARY, $XDG_DATA_HOME/tome/library.db, ~/.local/share/tome/library.db (as the CLI).
  static QString defaultLibraryPath();

  QString modelDir() const;
  void setModelDir(const QString& dir);
  QString backend() const;  // "auto", "gpu", "cpu"
  void setBackend(const QString& b);
  QString kvStorage() const;  // "f32", "bf16", "fp8"
  void setKvStorage(const QString& k);
  GenerationSettings generation() const;
  void setGeneration(const GenerationSettings& g);
  QString libraryPath() const;
  void setLibraryPath(const QString& p);
  ReadSettings readSettings() const;

 signals:
  void modelChanged();  // model directory or backend: the model is reloaded
  void changed();

 private:
  std::unique_ptr<QSettings> m_s;
};

}  // namespace tome::desktop
