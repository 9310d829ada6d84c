// End-to-end test of the real window under Xvfb (xcb) with the embedded model: drop the bundled
// sample (resources/sample/keeper.md) on the window, read the plan and click Read, wait for the
// read, type "What is the pass key?" and click Ask, get 7341 with a source link, click the link
// in the transcript and land in the viewer on the line that holds the pass key. A screenshot of
// each step is saved under <build>/tests/desktop/e2e-artifacts/ (the test's artifacts).
#include <QAbstractTextDocumentLayout>
#include <QDir>
#include <QGuiApplication>
#include <QLineEdit>
#include <QMimeData>
#include <QPushButton>
#include <QScreen>
#include <QSignalSpy>
#include <QTest>
#include <QTextBlock>
#include <QTextBrowser>
#include <QUrl>

#include "desktop_test_util.h"
#include "ui/chat_view.h"
#include "ui/main_window.h"
#include "ui/plan_dialog.h"
#include "ui/viewer.h"

using namespace tome::desktop;
using namespace tome::desktop::test;

class EndToEnd : public QObject {
  Q_OBJECT
  QString m_artifacts = QStringLiteral(TOME_ARTIFACT_DIR);
  int m_step = 0;

  void screenshot(QWidget* w, const QString& name) {
    QCoreApplication::processEvents();
    const QString base = QStringLiteral("%1/%2-%3").arg(m_artifacts).arg(++m_step, 2, 10, QLatin1Char('0')).arg(name);
    QVERIFY(w->grab().save(base + QStringLiteral(".png")));
    if (QScreen* s = QGuiApplication::primaryScreen()) s->grabWindow(0).save(base + QStringLiteral("-screen.png"));
  }

  // The point in the transcript's viewport where the anchor `href` is drawn.
  static QPoint anchorPoint(QTextBrowser* b, const QString& href) {
    for (QTextBlock block = b->document()->begin(); block.isValid(); block = block.next())
      for (auto it = block.begin(); !it.atEnd(); ++it) {
        const QTextFragment f = it.fragment();
        if (f.charFormat().anchorHref() != href) continue;
        QTextCursor c(b->document());
        c.setPosition(f.position() + std::min(1, f.length() - 1));
        b->setTextCursor(c);
        b->ensureCursorVisible();
        return b->cursorRect(c).center();
      }
    return {-1, -1};
  }

 private slots:
  void initTestCase() { QDir().mkpath(m_artifacts); }

  void askTheSample() {
    QTemporaryDir dir;
    AppController app(writeSettings(dir, 0, 16));
    MainWindow w(&app);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    app.start();
    QTRY_VERIFY_WITH_TIMEOUT(app.modelReady(), 60000);
    screenshot(&w, QStringLiteral("start"));

    // Drag and drop the sample onto the window.
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(samplePath())});
    const QPoint center = w.rect().center();
    QDragEnterEvent enter(center, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&w, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(center), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&w, &drop);
    QTRY_VERIFY_WITH_TIMEOUT(w.planDialog() != nullptr && w.planDialog()->isVisible(), 60000);
    QVERIFY(QTest::qWaitForWindowExposed(w.planDialog()));
    QVERIFY(w.planDialog()->readButton()->isEnabled());
    screenshot(w.planDialog(), QStringLiteral("plan"));

    QSignalSpy finished(app.ingest(), &IngestController::finished);
    QTest::mouseClick(w.planDialog()->readButton(), Qt::LeftButton);
    QVERIFY(finished.wait(60000));
    QVERIFY(!finished.at(0).at(1).toBool());
    QVERIFY2(finished.at(0).at(2).toString().isEmpty(), qPrintable(finished.at(0).at(2).toString()));
    QTRY_COMPARE_WITH_TIMEOUT(app.currentSession().name, QStringLiteral("keeper.md"), 30000);
    auto* input = w.findChild<QLineEdit*>(QStringLiteral("questionInput"));
    auto* ask = w.findChild<QPushButton*>(QStringLiteral("askButton"));
    QTRY_VERIFY_WITH_TIMEOUT(ask->isEnabled(), 30000);
    screenshot(&w, QStringLiteral("read"));

    QTest::keyClicks(input, QStringLiteral("What is the pass key?"));
    QSignalSpy answered(app.chat(), &ChatController::answerFinished);
    QTest::mouseClick(ask, Qt::LeftButton);
    QVERIFY(answered.wait(60000));
    const ChatMessage* answer = app.chat()->chat()->at(answered.at(0).at(0).toInt());
    QVERIFY2(answer->text.contains(QStringLiteral("7341")), qPrintable(answer->text));
    QVERIFY(!answer->sources.isEmpty());
    // The attended passages (attention mass of the last cross-decoder layer): the heaviest one is
    // the line that states the pass key.
    const SourceLink* attended = nullptr;
    for (const SourceLink& l : answer->sources)
      if (l.kind == SourceLink::Kind::Attention && (!attended || l.weight > attended->weight)) attended = &l;
    QVERIFY2(attended, "no attended passage among the sources");
    QCOMPARE(attended->line, lineOf(samplePath(), QStringLiteral("The pass key is 7341")));
    QTRY_VERIFY_WITH_TIMEOUT(w.chatView()->transcript()->toPlainText().contains(QStringLiteral("7341")), 5000);
    QTRY_VERIFY_WITH_TIMEOUT(w.chatView()->transcript()->toPlainText().contains(QStringLiteral("Sources:")), 5000);
    screenshot(&w, QStringLiteral("answer"));

    // Click the first source link where it is drawn in the transcript.
    QTextBrowser* transcript = w.chatView()->transcript();
    const QString href = QStringLiteral("src:%1:0").arg(answered.at(0).at(0).toInt());
    const QPoint at = anchorPoint(transcript, href);
    QVERIFY2(at.x() >= 0, "no source link in the transcript");
    QTest::mouseClick(transcript->viewport(), Qt::LeftButton, Qt::NoModifier, at);
    const int line = lineOf(samplePath(), QStringLiteral("The pass key is 7341"));
    QTRY_COMPARE_WITH_TIMEOUT(w.viewer()->currentLine(), line, 5000);
    QCOMPARE(QFileInfo(w.viewer()->currentFile()).canonicalFilePath(), QFileInfo(samplePath()).canonicalFilePath());
    QVERIFY(w.viewer()->lineText().contains(QStringLiteral("7341")));
    screenshot(&w, QStringLiteral("source"));
  }
};

QTEST_MAIN(EndToEnd)
#include "test_e2e.moc"
