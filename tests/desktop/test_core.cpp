// Qt Test of app/desktop/core (no widgets; offscreen): every item model under
// QAbstractItemModelTester, the source index (quotes, definitions, locations), pre-ingest plans
// and refusals, and the controllers with the real engine worker and the embedded model: read
// the sample, cancel a read and resume it, ask with streamed tokens, stop an answer, threads.
#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QStringListModel>
#include <QTest>

#include "core/app_controller.h"
#include "core/ingest_pipeline.h"
#include "core/source_index.h"
#include "desktop_test_util.h"
#include "tome/engine.h"

using namespace tome::desktop;
using namespace tome::desktop::test;

class CoreTest : public QObject {
  Q_OBJECT
 private:
  // A ModelInfo for the embedded model without the worker (plans and source index on this thread).
  ModelInfo modelInfo() {
    static std::shared_ptr<tome::model> m;
    if (!m) {
      tome::load_params lp;
      lp.backend = tome::backend_kind::cpu;
      auto r = tome::model::load(modelDir().toStdString(), lp);
      if (r) m = *r;
    }
    ModelInfo mi;
    mi.model = m;
    if (!m) return mi;
    mi.name = QString::fromStdString(m->config().name);
    mi.kvBytesPerToken = 2 * m->config().kv_dim() * 4;
    mi.maxContext = m->config().max_context;
    mi.prefillTokensPerSecond = 1000;
    return mi;
  }

  static bool waitFor(const std::function<bool()>& f, int ms = 60000) {
    QElapsedTimer t;
    t.start();
    while (!f()) {
      if (t.elapsed() > ms) return false;
      QTest::qWait(10);
    }
    return true;
  }

 private slots:
  void libraryModel() {
    LibraryModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    SessionRow a;
    a.name = QStringLiteral("a");
    a.tokens = 10;
    a.target = 10;
    SessionRow b = a;
    b.name = QStringLiteral("b");
    b.target = 20;
    m.setSessions({a, b});
    QCOMPARE(m.rowCount(), 2);
    QCOMPARE(m.columnCount(), int(LibraryModel::ColumnCount));
    QVERIFY(m.data(m.index(1, LibraryModel::State)).toString().contains(QStringLiteral("unfinished")));
    QCOMPARE(m.uniqueName(QStringLiteral("a")), QStringLiteral("a (2)"));
    QCOMPARE(m.uniqueName(QStringLiteral("c")), QStringLiteral("c"));
    m.setSessions({b});
    QCOMPARE(m.rowOf(QStringLiteral("b")), 0);
    QCOMPARE(m.rowOf(QStringLiteral("a")), -1);
  }

  void chatModel() {
    ChatModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    ChatMessage q;
    q.text = QStringLiteral("What is the pass key?");
    m.appendMessage(q);
    ChatMessage a;
    a.role = ChatMessage::Role::Assistant;
    a.streaming = true;
    const int row = m.appendMessage(a);
    QSignalSpy changed(&m, &QAbstractItemModel::dataChanged);
    m.appendText(row, QStringLiteral("73"));
    m.appendText(row, QStringLiteral("41"));
    QCOMPARE(changed.count(), 2);
    QCOMPARE(m.data(m.index(row), ChatModel::TextRole).toString(), QStringLiteral("7341"));
    m.finish(row, QStringLiteral("7341"), {}, true, {});
    QVERIFY(!m.data(m.index(row), ChatModel::StreamingRole).toBool());
    QVERIFY(m.data(m.index(row), ChatModel::StoppedRole).toBool());
    m.appendText(7, QStringLiteral("ignored"));  // out of range: no crash, no change
    m.clear();
    QCOMPARE(m.rowCount(), 0);
  }

  void sourcesAndThreadModels() {
    SourcesModel s;
    QAbstractItemModelTester t1(&s, QAbstractItemModelTester::FailureReportingMode::QtTest);
    SourceLink l;
    l.file = QStringLiteral("keeper.md");
    l.line = 27;
    l.snippet = QStringLiteral("7341");
    s.setSources({l, l});
    QCOMPARE(s.rowCount(), 2);
    QVERIFY(s.data(s.index(0)).toString().contains(QStringLiteral("keeper.md:27")));
    QStringListModel threads;
    QAbstractItemModelTester t2(&threads, QAbstractItemModelTester::FailureReportingMode::QtTest);
    threads.setStringList({QStringLiteral("q1"), QStringLiteral("q2")});
  }

  void fileTreeModel() {
    FileTreeModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    m.setFiles({QStringLiteral("src/b.cpp"), QStringLiteral("README.md"), QStringLiteral("src/a/x.h"), QStringLiteral("src/a.cpp")});
    QCOMPARE(m.fileCount(), 4);
    QCOMPARE(m.rowCount(), 2);  // src/, README.md
    QCOMPARE(m.index(0, 0).data().toString(), QStringLiteral("src"));  // folders first
    const QModelIndex x = m.indexOfPath(QStringLiteral("src/a/x.h"));
    QVERIFY(x.isValid());
    QCOMPARE(x.data(FileTreeModel::PathRole).toString(), QStringLiteral("src/a/x.h"));
    QCOMPARE(m.parent(x).data().toString(), QStringLiteral("a"));
    QVERIFY(!m.indexOfPath(QStringLiteral("src/nope.h")).isValid());
    m.setFiles({});
    QCOMPARE(m.rowCount(), 0);
  }

  void definitionQueries() {
    QCOMPARE(definitionQuery(QStringLiteral("Where is circle_area defined?")), QStringLiteral("circle_area"));
    QCOMPARE(definitionQuery(QStringLiteral("where's `Foo::bar()` declared")), QStringLiteral("bar"));
    QCOMPARE(definitionQuery(QStringLiteral("Show me the definition of parse_args")), QStringLiteral("parse_args"));
    QCOMPARE(definitionQuery(QStringLiteral("Which file defines `jv_parse`?")), QStringLiteral("jv_parse"));
    QCOMPARE(definitionQuery(QStringLiteral("what file implements the function Lexer::next")), QStringLiteral("next"));
    QCOMPARE(definitionQuery(QStringLiteral("Which file is the longest?")), QString());
    QCOMPARE(definitionQuery(QStringLiteral("What is the pass key?")), QString());
  }

  void planAndQuotesOnTheSample() {
    const ModelInfo mi = modelInfo();
    QVERIFY(mi.model);
    QTemporaryDir dir;
    IngestRequest req;
    req.path = samplePath();
    req.libraryPath = dir.filePath(QStringLiteral("library.db"));
    const IngestPlan plan = prepareIngest(req, mi, nullptr);
    QVERIFY2(plan.fits, qPrintable(plan.whyNot));
    QVERIFY(plan.prepared);
    QCOMPARE(plan.kind, QStringLiteral("markdown"));
    QCOMPARE(plan.tokens, qint64(plan.prepared->tokens.size()));
    QCOMPARE(plan.kvBytes, plan.tokens * mi.kvBytesPerToken);
    QVERIFY(plan.diskBytes > plan.tokens * 4);
    QVERIFY(plan.expectedSeconds > 0);
    // The source index over exactly these tokens finds the pass key on its line.
    std::vector<tome::store::document_record> docs{plan.prepared->record};
    docs[0].token_begin = 0;
    docs[0].token_end = plan.tokens;
    const SourceIndex ix = SourceIndex::build(mi.model->tok(), plan.prepared->tokens, docs);
    const int line = lineOf(samplePath(), QStringLiteral("The pass key is 7341"));
    QVERIFY(line > 0);
    const QList<SourceLink> links = ix.findQuotes(QStringLiteral("7341"));
    QVERIFY(!links.isEmpty());
    QCOMPARE(links.front().file, QStringLiteral("keeper.md"));
    QCOMPARE(links.front().line, line);
    QCOMPARE(links.front().docPath, plan.path);
    // A longer quote inside an answer, case and punctuation aside.
    const QList<SourceLink> q = ix.findQuotes(QStringLiteral("She said: the tower had one hundred and twelve steps!"));
    QCOMPARE(q.size(), 1);
    QCOMPARE(q.front().line, lineOf(samplePath(), QStringLiteral("The tower had one hundred and twelve steps")));
    QVERIFY(ix.findQuotes(QStringLiteral("quantum chromodynamics lattice")).isEmpty());
    QVERIFY(ix.findQuotes(QStringLiteral("the")).isEmpty());  // too short to count as a quote
  }

  void definitionsInARepository() {
    const ModelInfo mi = modelInfo();
    QTemporaryDir dir;
    QDir(dir.path()).mkpath(QStringLiteral("repo/src"));
    QFile a(dir.filePath(QStringLiteral("repo/src/geometry.py")));
    QVERIFY(a.open(QIODevice::WriteOnly));
    a.write("import math\n\n\ndef circle_area(radius):\n    return math.pi * radius * radius\n");
    a.close();
    QFile b(dir.filePath(QStringLiteral("repo/src/main.py")));
    QVERIFY(b.open(QIODevice::WriteOnly));
    b.write("from geometry import circle_area\n\nprint(circle_area(2))\n");
    b.close();
    IngestRequest req;
    req.path = dir.filePath(QStringLiteral("repo"));
    req.libraryPath = dir.filePath(QStringLiteral("library.db"));
    const IngestPlan plan = prepareIngest(req, mi, nullptr);
    QVERIFY2(plan.fits, qPrintable(plan.whyNot));
    QCOMPARE(plan.kind, QStringLiteral("repository"));
    QCOMPARE(plan.files, qint64(2));
    std::vector<tome::store::document_record> docs{plan.prepared->record};
    docs[0].token_end = plan.tokens;
    const SourceIndex ix = SourceIndex::build(mi.model->tok(), plan.prepared->tokens, docs);
    QCOMPARE(ix.files().size(), 2);
    const QList<SourceLink> defs = ix.findDefinitions(QStringLiteral("circle_area"));
    QCOMPARE(defs.size(), 1);
    QCOMPARE(defs.front().file, QStringLiteral("src/geometry.py"));
    QCOMPARE(defs.front().line, 4);
    QCOMPARE(defs.front().kind, SourceLink::Kind::Definition);
  }

  void refusals() {
    ModelInfo mi = modelInfo();
    QTemporaryDir dir;
    IngestRequest req;
    req.libraryPath = dir.filePath(QStringLiteral("library.db"));
    req.path = dir.filePath(QStringLiteral("missing.pdf"));
    IngestPlan p = prepareIngest(req, mi, nullptr);
    QVERIFY(!p.fits);
    QVERIFY(p.whyNot.contains(QStringLiteral("no such file")));
    QFile bin(dir.filePath(QStringLiteral("blob.bin")));
    QVERIFY(bin.open(QIODevice::WriteOnly));
    bin.write(QByteArray(4096, '\0'));
    bin.close();
    req.path = bin.fileName();
    p = prepareIngest(req, mi, nullptr);
    QVERIFY(!p.fits);
    QVERIFY(!p.whyNot.isEmpty());
    QVERIFY(!p.prepared);
    // Too long for the model: refused with the reason, never truncated.
    mi.maxContext = 100;
    req.path = samplePath();
    p = prepareIngest(req, mi, nullptr);
    QVERIFY(!p.fits);
    QVERIFY(p.whyNot.contains(QStringLiteral("maximum context")));
    QVERIFY(!p.prepared);
    // No model.
    p = prepareIngest(req, ModelInfo{}, nullptr);
    QVERIFY(!p.fits);
    QVERIFY(p.whyNot.contains(QStringLiteral("No model")));
    // Cancelled before it starts.
    std::atomic<bool> cancel{true};
    p = prepareIngest(req, modelInfo(), &cancel);
    QVERIFY(!p.fits);
  }

  void missingModelIsAMessage() {
    QTemporaryDir dir;
    const QString ini = writeSettings(dir);
    {
      QSettings s(ini, QSettings::IniFormat);
      s.setValue(QStringLiteral("model/dir"), dir.filePath(QStringLiteral("no-model-here")));
    }
    AppController app(ini);
    QSignalSpy messages(&app, &AppController::message);
    app.start();
    QVERIFY(waitFor([&] {
      for (const auto& m : messages)
        if (m.at(0).value<AppController::Level>() == AppController::Level::Error) return true;
      return false;
    }));
    QVERIFY(!app.modelReady());
  }

  // The whole flow on the worker: read (cancel, resume), ask (stream, stop), threads.
  void readCancelResumeAskStop() {
    QTemporaryDir dir;
    AppController app(writeSettings(dir, 512, 24));
    QSignalSpy ready(&app, &AppController::modelReadyChanged);
    app.start();
    QVERIFY(waitFor([&] { return app.modelReady(); }));
    QVERIFY(app.model().prefillTokensPerSecond > 0);

    // A document of several chunks: cancel after the first checkpoint.
    const QString longDoc = writeLongDocument(dir, 2);
    IngestController* ing = app.ingest();
    QSignalSpy plans(ing, &IngestController::planReady);
    QSignalSpy progress(ing, &IngestController::progress);
    QSignalSpy finished(ing, &IngestController::finished);
    ing->planPath(longDoc);
    QVERIFY(plans.wait(60000));
    QVERIFY2(ing->plan().fits, qPrintable(ing->plan().whyNot));
    const qint64 total = ing->plan().tokens;
    QVERIFY(total > 2000);  // several chunks of 512
    ing->start();
    QCOMPARE(ing->state(), IngestController::State::Reading);
    QVERIFY(progress.wait(60000));
    ing->cancel();
    QVERIFY(waitFor([&] { return finished.count() == 1; }));
    QCOMPARE(finished.at(0).at(0).toString(), QStringLiteral("long.md"));
    QVERIFY(finished.at(0).at(1).toBool());  // cancelled
    QVERIFY(waitFor([&] { const SessionRow* r = app.library()->find(QStringLiteral("long.md")); return r && r->tokens > 0; }));
    SessionRow row = *app.library()->find(QStringLiteral("long.md"));
    QVERIFY(!row.complete());
    QVERIFY(row.tokens < total);
    QCOMPARE(row.target, total);
    // Resume: the same document planned again reads from the last checkpoint to the end.
    ing->resume(row);
    QVERIFY(waitFor([&] { return finished.count() == 2; }, 120000));
    QVERIFY(!finished.at(1).at(1).toBool());
    QVERIFY2(finished.at(1).at(2).toString().isEmpty(), qPrintable(finished.at(1).at(2).toString()));
    QVERIFY(waitFor([&] { const SessionRow* r = app.library()->find(QStringLiteral("long.md")); return r && r->complete(); }));

    // The sample: read, open, ask; the answer streams and quotes the document.
    ing->planPath(samplePath());
    QVERIFY(plans.wait(60000));
    ing->start();
    QVERIFY(waitFor([&] { return finished.count() == 3; }, 60000));
    QVERIFY(!finished.at(2).at(1).toBool());
    QSignalSpy opened(&app, &AppController::sessionOpened);
    app.openSession(QStringLiteral("keeper.md"));
    QVERIFY(opened.wait(30000));
    ChatController* chat = app.chat();
    QCOMPARE(chat->session(), QStringLiteral("keeper.md"));
    QSignalSpy tokens(app.worker(), &EngineWorker::answerToken);
    QSignalSpy done(chat, &ChatController::answerFinished);
    QVERIFY(chat->ask(QStringLiteral("What is the pass key?")));
    QVERIFY(!chat->ask(QStringLiteral("a second question while busy")));
    QVERIFY(done.wait(60000));
    QVERIFY(tokens.count() >= 1);
    const ChatMessage* answer = chat->chat()->at(done.at(0).at(0).toInt());
    QVERIFY(answer);
    QVERIFY2(answer->text.contains(QStringLiteral("7341")), qPrintable(answer->text));
    QVERIFY(!answer->sources.isEmpty());
    QCOMPARE(answer->sources.front().line, lineOf(samplePath(), QStringLiteral("The pass key is 7341")));
    QCOMPARE(chat->sources()->rowCount(), answer->sources.size());
    const QString firstThread = chat->thread();
    QVERIFY(!firstThread.isEmpty());

    // Stop: an answer stopped before its first token is marked stopped and saved as far as it got.
    chat->newThread();
    QVERIFY(chat->thread().isEmpty());
    QVERIFY(chat->ask(QStringLiteral("Tell me the whole story of the keeper.")));
    chat->stop();
    QVERIFY(done.wait(60000));
    const ChatMessage* stopped = chat->chat()->at(done.at(1).at(0).toInt());
    QVERIFY(stopped->stopped);
    QVERIFY(stopped->error.isEmpty());
    QVERIFY(chat->thread() != firstThread);

    // Switching back reloads the first thread's messages from the library.
    QSignalSpy loaded(app.worker(), &EngineWorker::threadLoaded);
    chat->switchThread(firstThread);
    QVERIFY(loaded.wait(30000));
    QCOMPARE(chat->chat()->rowCount(), 2);
    QCOMPARE(chat->chat()->at(0)->text, QStringLiteral("What is the pass key?"));
    QVERIFY(chat->chat()->at(1)->text.contains(QStringLiteral("7341")));
    QVERIFY(!chat->chat()->at(1)->sources.isEmpty());
  }

  // "Which file defines X?" in a repository: the answer is one of its paths, from the default
  // model's pointer heads among the files holding the symbol (no paths' prior is computed); every
  // such answer says in the status bar, as an information message, how many files hold the symbol
  // and where the model looked, naming the answer's file. `Square` is only
  // in shapes.py, and that is the answer, with its lines among the attended passages, in a fresh
  // app on the same library too.
  void whichFileInARepository() {
    QTemporaryDir dir;
    QDir(dir.path()).mkpath(QStringLiteral("repo/src"));
    const QList<QPair<QString, QByteArray>> files = {
        {QStringLiteral("repo/src/geometry.py"), "import math\n\n\ndef circle_area(radius):\n    return math.pi * radius * radius\n"},
        {QStringLiteral("repo/src/main.py"), "from geometry import circle_area\n\nprint(circle_area(2))\n"},
        {QStringLiteral("repo/src/shapes.py"), "class Square:\n    def __init__(self, side):\n        self.side = side\n"}};
    for (const auto& [name, body] : files) {
      QFile f(dir.filePath(name));
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write(body);
    }
    const QStringList paths = {QStringLiteral("src/geometry.py"), QStringLiteral("src/main.py"),
                               QStringLiteral("src/shapes.py")};
    for (int round = 0; round < 2; ++round) {  // the second: a new app on the same library
      AppController app(writeSettings(dir, 0, 24));
      QSignalSpy messages(&app, &AppController::message);
      app.start();
      QVERIFY(waitFor([&] { return app.modelReady(); }));
      IngestController* ing = app.ingest();
      if (round == 0) {
        QSignalSpy plans(ing, &IngestController::planReady);
        QSignalSpy finished(ing, &IngestController::finished);
        ing->planPath(dir.filePath(QStringLiteral("repo")));
        QVERIFY(plans.wait(60000));
        QVERIFY2(ing->plan().fits, qPrintable(ing->plan().whyNot));
        ing->start();
        QVERIFY(waitFor([&] { return finished.count() == 1; }, 60000));
        QVERIFY2(finished.at(0).at(2).toString().isEmpty(), qPrintable(finished.at(0).at(2).toString()));
      }
      QVERIFY(waitFor([&] { return app.library()->find(QStringLiteral("repo")) != nullptr; }));
      QSignalSpy opened(&app, &AppController::sessionOpened);
      app.openSession(QStringLiteral("repo"));
      QVERIFY(opened.wait(30000));
      ChatController* chat = app.chat();
      QSignalSpy done(chat, &ChatController::answerFinished);
      QSignalSpy notes(chat, &ChatController::notice);
      QVERIFY(chat->ask(QStringLiteral("Which file defines `circle_area`?")));
      QVERIFY(done.wait(60000));
      const ChatMessage* answer = chat->chat()->at(done.at(0).at(0).toInt());
      QVERIFY(answer);
      QVERIFY2(answer->error.isEmpty(), qPrintable(answer->error));
      QVERIFY2(paths.contains(answer->text), qPrintable(answer->text));
      QCOMPARE(notes.count(), 1);
      const QString note = notes.at(0).at(0).toString();
      // circle_area is in geometry.py (its definition) and main.py (a use): the heads chose between them.
      QVERIFY2(note.contains(QStringLiteral("`circle_area` occurs in 2 files; the model's pointer heads attend most to ") +
                             answer->text),
               qPrintable(note));
      bool shown = false;  // it reaches the window as an information message
      for (const auto& m : messages)
        shown = shown || (m.at(0).value<AppController::Level>() == AppController::Level::Info && m.at(1).toString() == note);
      QVERIFY(shown);
      QVERIFY(chat->ask(QStringLiteral("Which file defines `Square`?")));
      QVERIFY(done.wait(60000));
      const ChatMessage* square = chat->chat()->at(done.at(1).at(0).toInt());
      QCOMPARE(square->text, QStringLiteral("src/shapes.py"));
      QCOMPARE(notes.count(), 2);
      QVERIFY2(notes.at(1).at(0).toString().startsWith(QStringLiteral("`Square` occurs only in src/shapes.py; ")),
               qPrintable(notes.at(1).at(0).toString()));
      // Beside it, where the model found the symbol: the pointer's attention as attended passages.
      bool attended = false;
      for (const SourceLink& l : square->sources)
        attended = attended || (l.kind == SourceLink::Kind::Attention && l.file == QStringLiteral("src/shapes.py"));
      QVERIFY(attended);
    }
  }

  void destroyWhileWorking() {
    QTemporaryDir dir;
    auto app = std::make_unique<AppController>(writeSettings(dir, 512, 24));
    app->start();
    QVERIFY(waitFor([&] { return app->modelReady(); }));
    QSignalSpy plans(app->ingest(), &IngestController::planReady);
    QSignalSpy progress(app->ingest(), &IngestController::progress);
    app->ingest()->planPath(writeLongDocument(dir, 2));
    QVERIFY(plans.wait(60000));
    app->ingest()->start();
    QVERIFY(progress.wait(60000));
    app.reset();  // cancels, joins the worker; no crash, no hang
    // The library kept the last checkpoint: a new controller offers to resume.
    AppController again(writeSettings(dir, 512, 24));
    QSignalSpy resumable(&again, &AppController::resumable);
    again.start();
    QVERIFY(resumable.wait(60000));
    QCOMPARE(resumable.at(0).at(0).value<QList<SessionRow>>().front().name, QStringLiteral("long.md"));
  }
};

QTEST_GUILESS_MAIN(CoreTest)
#include "test_core.moc"
