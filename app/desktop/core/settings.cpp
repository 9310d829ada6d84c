// Settings (settings.h).
#include "core/settings.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>

#include "tome/service/service.h"

namespace tome::desktop {

Settings::Settings(const QString& file, QObject* parent)
    : QObject(parent),
      m_s(file.isEmpty() ? std::make_unique<QSettings>(QStringLiteral("tome"), QStringLiteral("tome-desktop"))
                         : std::make_unique<QSettings>(file, QSettings::IniFormat)) {}

QString Settings::defaultModelDir() {
  const QString env = qEnvironmentVariable("TOME_MODEL");
  if (!env.isEmpty()) return env;
  const QString installed = QDir(QCoreApplication::applicationDirPath() + QStringLiteral("/../share/tome/models/tome-25m")).absolutePath();
  if (QFileInfo(installed + QStringLiteral("/config.json")).exists()) return installed;
  return QStringLiteral(TOME_SOURCE_MODEL_DIR);
}

QString Settings::defaultLibraryPath() { return QString::fromStdString(service::default_library_path().string()); }

QString Settings::modelDir() const { return m_s->value(QStringLiteral("model/dir"), defaultModelDir()).toString(); }
void Settings::setModelDir(const QString& dir) {
  if (dir == modelDir()) return;
  m_s->setValue(QStringLiteral("model/dir"), dir);
  emit modelChanged();
  emit changed();
}
QString Settings::backend() const { return m_s->value(QStringLiteral("model/backend"), QStringLiteral("auto")).toString(); }
void Settings::setBackend(const QString& b) {
  if (b == backend()) return;
  m_s->setValue(QStringLiteral("model/backend"), b);
  emit modelChanged();
  emit changed();
}
QString Settings::kvStorage() const { return m_s->value(QStringLiteral("session/kv"), QStringLiteral("f32")).toString(); }
void Settings::setKvStorage(const QString& k) {
  m_s->setValue(QStringLiteral("session/kv"), k);
  emit changed();
}
GenerationSettings Settings::generation() const {
  GenerationSettings g;
  g.temperature = m_s->value(QStringLiteral("sampling/temperature"), 0.0).toDouble();
  g.topP = m_s->value(QStringLiteral("sampling/top_p"), 1.0).toDouble();
  g.maxTokens = m_s->value(QStringLiteral("sampling/max_tokens"), 128).toInt();
  return g;
}
void Settings::setGeneration(const GenerationSettings& g) {
  m_s->setValue(QStringLiteral("sampling/temperature"), g.temperature);
  m_s->setValue(QStringLiteral("sampling/top_p"), g.topP);
  m_s->setValue(QStringLiteral("sampling/max_tokens"), g.maxTokens);
  emit changed();
}
QString Settings::libraryPath() const { return m_s->value(QStringLiteral("library/path"), defaultLibraryPath()).toString(); }
void Settings::setLibraryPath(const QString& p) {
  m_s->setValue(QStringLiteral("library/path"), p);
  emit changed();
}
ReadSettings Settings::readSettings() const {
  ReadSettings r;
  r.kvStorage = kvStorage();
  r.chunkTokens = m_s->value(QStringLiteral("session/chunk_tokens"), 0).toLongLong();
  return r;
}

}  // namespace tome::desktop
