// tome::desktop value types (types.h): labels, number formatting, meta-type registration.
#include "core/types.h"

#include <QFileInfo>

namespace tome::desktop {

QString SourceLink::label() const {
  QString name = file.isEmpty() ? QFileInfo(docPath).fileName() : file;
  if (page > 0) return line > 0 ? QStringLiteral("%1 p. %2, line %3").arg(name).arg(page).arg(line)
                                : QStringLiteral("%1 p. %2").arg(name).arg(page);
  return line > 0 ? QStringLiteral("%1:%2").arg(name).arg(line) : name;
}

QString humanBytes(qint64 bytes) {
  if (bytes < 0) return QStringLiteral("?");
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? QStringLiteral("%1 B").arg(bytes)
                : QStringLiteral("%1 %2").arg(v, 0, 'f', v < 10 ? 1 : 0).arg(units[u]);
}

QString humanSeconds(double s) {
  if (s < 0) return QStringLiteral("?");
  if (s < 1) return QStringLiteral("< 1 s");
  const qint64 t = static_cast<qint64>(s + 0.5);
  if (t < 60) return QStringLiteral("%1 s").arg(t);
  if (t < 3600) return QStringLiteral("%1 min %2 s").arg(t / 60).arg(t % 60);
  return QStringLiteral("%1 h %2 min").arg(t / 3600).arg((t % 3600) / 60);
}

void registerTypes() {
  qRegisterMetaType<SessionRow>();
  qRegisterMetaType<QList<SessionRow>>();
  qRegisterMetaType<ModelInfo>();
  qRegisterMetaType<IngestPlan>();
  qRegisterMetaType<SourceLink>();
  qRegisterMetaType<QList<SourceLink>>();
  qRegisterMetaType<ChatMessage>();
  qRegisterMetaType<QList<ChatMessage>>();
  qRegisterMetaType<MemoryReport>();
}

}  // namespace tome::desktop
