// Shared pieces of the desktop tests: a scratch folder with an INI settings file pointing at a
// fresh library and the embedded model, and documents made from the bundled sample.
#pragma once

#include <QDir>
#include <QFile>
#include <QSettings>
#include <QString>
#include <QTemporaryDir>

namespace tome::desktop::test {

inline QString sourceDir() { return QStringLiteral(TOME_SOURCE_DIR); }
inline QString samplePath() { return sourceDir() + QStringLiteral("/resources/sample/keeper.md"); }
inline QString modelDir() { return sourceDir() + QStringLiteral("/resources/models/tome-25m"); }

// Writes <dir>/settings.ini: the library in <dir>, the embedded model on the CPU, greedy answers.
inline QString writeSettings(const QTemporaryDir& dir, qint64 chunkTokens = 0, int maxTokens = 24) {
  const QString file = dir.filePath(QStringLiteral("settings.ini"));
  QSettings s(file, QSettings::IniFormat);
  s.setValue(QStringLiteral("model/dir"), modelDir());
  s.setValue(QStringLiteral("model/backend"), QStringLiteral("cpu"));
  s.setValue(QStringLiteral("library/path"), dir.filePath(QStringLiteral("library.db")));
  s.setValue(QStringLiteral("sampling/max_tokens"), maxTokens);
  if (chunkTokens > 0) s.setValue(QStringLiteral("session/chunk_tokens"), chunkTokens);
  s.sync();
  return file;
}

// The sample story repeated `times` times (each copy with its own heading): a longer document.
inline QString writeLongDocument(const QTemporaryDir& dir, int times) {
  QFile in(samplePath());
  in.open(QIODevice::ReadOnly);
  const QByteArray story = in.readAll();
  const QString path = dir.filePath(QStringLiteral("long.md"));
  QFile out(path);
  out.open(QIODevice::WriteOnly);
  for (int i = 0; i < times; ++i) {
    out.write(QByteArray("\n# Copy ") + QByteArray::number(i) + "\n\n");
    out.write(story);
  }
  return path;
}

// 1-based number of the first line of `file` containing `needle`; 0 if none.
inline int lineOf(const QString& file, const QString& needle) {
  QFile f(file);
  if (!f.open(QIODevice::ReadOnly)) return 0;
  const QStringList lines = QString::fromUtf8(f.readAll()).split(QLatin1Char('\n'));
  for (int i = 0; i < lines.size(); ++i)
    if (lines[i].contains(needle)) return i + 1;
  return 0;
}

}  // namespace tome::desktop::test
