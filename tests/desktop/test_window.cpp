// Qt Test of the main window (offscreen): closing it while a read runs cancels the read, keeps
// the last checkpoint and closes once the worker is idle; a refused plan shows its reason and no
// Read button; an unsupported file is a message in the window, not a crash.
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QTest>

#include "desktop_test_util.h"
#include "ui/main_window.h"
#include "ui/message_bar.h"
#include "ui/plan_dialog.h"

using namespace tome::desktop;
using namespace tome::desktop::test;

class WindowTest : public QObject {
  Q_OBJECT
 private slots:
  void unsupportedFileIsAMessage() {
    QTemporaryDir dir;
    AppController app(writeSettings(dir));
    MainWindow w(&app);
    w.show();
    app.start();
    QTRY_VERIFY_WITH_TIMEOUT(app.modelReady(), 60000);
    QFile bin(dir.filePath(QStringLiteral("image.bin")));
    QVERIFY(bin.open(QIODevice::WriteOnly));
    bin.write(QByteArray(2048, '\0'));
    bin.close();
    w.openPath(bin.fileName());
    QTRY_VERIFY_WITH_TIMEOUT(w.planDialog() != nullptr, 30000);
    QVERIFY(!w.planDialog()->readButton()->isEnabled());
    auto* summary = w.planDialog()->findChild<QLabel*>(QStringLiteral("planSummary"));
    QVERIFY(summary->text().contains(QStringLiteral("Not read")));
    w.planDialog()->reject();
    QCOMPARE(app.ingest()->state(), IngestController::State::Idle);
  }

  void closingDuringAReadKeepsTheCheckpoint() {
    QTemporaryDir dir;
    const QString ini = writeSettings(dir, 512);
    AppController app(ini);
    auto* w = new MainWindow(&app);
    w->setAttribute(Qt::WA_DeleteOnClose, false);
    w->show();
    app.start();
    QTRY_VERIFY_WITH_TIMEOUT(app.modelReady(), 60000);
    QSignalSpy progress(app.ingest(), &IngestController::progress);
    w->openPath(writeLongDocument(dir, 3));
    QTRY_VERIFY_WITH_TIMEOUT(w->planDialog() != nullptr, 60000);
    QVERIFY(w->planDialog()->readButton()->isEnabled());
    QTest::mouseClick(w->planDialog()->readButton(), Qt::LeftButton);
    QVERIFY(progress.wait(60000));
    QSignalSpy quit(&app, &AppController::readyToQuit);
    QVERIFY(!w->close());  // work runs: the close waits for the cancel
    QVERIFY(w->isVisible());
    QVERIFY(w->messageBar()->text().contains(QStringLiteral("checkpoint")));
    QTRY_VERIFY_WITH_TIMEOUT(!w->isVisible(), 30000);
    QVERIFY(quit.count() >= 1);
    QTRY_VERIFY_WITH_TIMEOUT(app.library()->find(QStringLiteral("long.md")) != nullptr, 10000);
    const SessionRow* row = app.library()->find(QStringLiteral("long.md"));
    QVERIFY(!row->complete());
    delete w;
  }
};

QTEST_MAIN(WindowTest)
#include "test_window.moc"
