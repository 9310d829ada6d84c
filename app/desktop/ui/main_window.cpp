// MainWindow (main_window.h).
#include "ui/main_window.h"

#include <QCloseEvent>
#include <QFileDialog>
#include <QInputDialog>
#include <QLabel>
#include <QMenuBar>
#include <QMimeData>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include "ui/chat_view.h"
#include "ui/code_view.h"
#include "ui/ingest_panel.h"
#include "ui/library_panel.h"
#include "ui/memory_panel.h"
#include "ui/message_bar.h"
#include "ui/plan_dialog.h"
#include "ui/settings_dialog.h"
#include "ui/sources_panel.h"
#include "ui/viewer.h"

namespace tome::desktop {

MainWindow::MainWindow(AppController* app, QWidget* parent) : QMainWindow(parent), m_app(app) {
  setObjectName(QStringLiteral("tomeMainWindow"));
  setWindowTitle(tr("Tome"));
  setWindowIcon(QIcon(QStringLiteral(":/tome/tome.svg")));
  setAcceptDrops(true);
  auto* central = new QWidget(this);
  auto* cl = new QVBoxLayout(central);
  cl->setContentsMargins(4, 4, 4, 4);
  m_messages = new MessageBar(central);
  auto* split = new QSplitter(central);
  m_library = new LibraryPanel(app->library(), split);
  m_tabs = new QTabWidget(split);
  m_chat = new ChatView(app->chat(), m_tabs);
  m_code = new CodeView(app->files(), app->completion(), m_tabs);
  m_tabs->addTab(m_chat, tr("Chat"));
  m_tabs->addTab(m_code, tr("Code"));
  auto* right = new QSplitter(Qt::Vertical, split);
  auto* rightTabs = new QTabWidget(right);
  m_sources = new SourcesPanel(app->chat()->sources(), rightTabs);
  m_memory = new MemoryPanel(rightTabs);
  rightTabs->addTab(m_sources, tr("Sources"));
  rightTabs->addTab(m_memory, tr("Memory"));
  m_viewer = new Viewer(right);
  right->addWidget(rightTabs);
  right->addWidget(m_viewer);
  right->setStretchFactor(1, 2);
  split->addWidget(m_library);
  split->addWidget(m_tabs);
  split->addWidget(right);
  split->setStretchFactor(0, 2);
  split->setStretchFactor(1, 3);
  split->setStretchFactor(2, 3);
  m_ingestPanel = new IngestPanel(app->ingest(), central);
  cl->addWidget(m_messages);
  cl->addWidget(split, 1);
  cl->addWidget(m_ingestPanel);
  setCentralWidget(central);
  m_backendLabel = new QLabel(tr("loading the model…"), this);
  m_backendLabel->setObjectName(QStringLiteral("backendLabel"));
  m_memoryLabel = new QLabel(this);
  m_memoryLabel->setObjectName(QStringLiteral("memoryLabel"));
  m_sessionLabel = new QLabel(this);
  m_sessionLabel->setObjectName(QStringLiteral("sessionLabel"));
  statusBar()->addPermanentWidget(m_backendLabel);
  statusBar()->addPermanentWidget(m_memoryLabel);
  statusBar()->addPermanentWidget(m_sessionLabel);
  buildMenus();
  m_chat->setEnabledForSession(false);

  connect(app, &AppController::message, this, &MainWindow::message);
  connect(app, &AppController::modelReadyChanged, this, [this] { updateStatus(); });
  connect(app, &AppController::memoryChanged, this, [this](const MemoryReport& m) {
    m_memory->setReport(m);
    updateStatus();
  });
  connect(app, &AppController::sessionOpened, this, [this](const SessionRow& s) {
    m_library->select(s.name);
    setWindowTitle(tr("%1 — Tome").arg(s.name));
    const bool ok = s.complete() && m_app->modelReady();
    m_chat->setEnabledForSession(ok);
    m_code->setRoot(s.kind == QLatin1String("repository") ? s.path : QString());
    if (!s.complete())
      m_messages->show(MessageBar::Level::Warning, tr("'%1' is not fully read (%2 of %3 tokens).").arg(s.name).arg(s.tokens).arg(s.target),
                       tr("Resume"), [this, s] { m_app->ingest()->resume(s); });
    updateStatus();
  });
  connect(app, &AppController::resumable, this, [this](const QList<SessionRow>& rows) {
    const SessionRow s = rows.front();
    m_messages->show(MessageBar::Level::Warning,
                     tr("Reading '%1' was interrupted at %2 of %3 tokens; the last checkpoint is kept.").arg(s.name).arg(s.tokens).arg(s.target),
                     tr("Resume"), [this, s] { m_app->ingest()->resume(s); });
  });
  connect(app, &AppController::readyToQuit, this, [this] {
    if (m_closeWhenIdle) close();
  });
  connect(app->ingest(), &IngestController::planReady, this, &MainWindow::showPlan);
  connect(app->ingest(), &IngestController::stateChanged, this, [this] { updateStatus(); });
  connect(m_library, &LibraryPanel::openRequested, app, &AppController::openSession);
  connect(m_library, &LibraryPanel::openFileRequested, this, [this] {
    auto* dlg = new QFileDialog(this, tr("Open a book, PDF, EPUB or text file"));
    dlg->setFileMode(QFileDialog::ExistingFile);
    dlg->setNameFilters({tr("Documents (*.pdf *.epub *.md *.markdown *.txt *.html *.htm)"), tr("All files (*)")});
    dlg->setAttribute(Qt::WA_DeleteOnClose);
    connect(dlg, &QFileDialog::fileSelected, this, &MainWindow::openPath);
    dlg->open();
  });
  connect(m_library, &LibraryPanel::openFolderRequested, this, [this] {
    auto* dlg = new QFileDialog(this, tr("Open a code repository (a folder)"));
    dlg->setFileMode(QFileDialog::Directory);
    dlg->setAttribute(Qt::WA_DeleteOnClose);
    connect(dlg, &QFileDialog::fileSelected, this, &MainWindow::openPath);
    dlg->open();
  });
  connect(m_library, &LibraryPanel::importRequested, this, [this] {
    auto* dlg = new QFileDialog(this, tr("Import a session"), QString(), tr("Tome sessions (*.tome)"));
    dlg->setFileMode(QFileDialog::ExistingFile);
    dlg->setAttribute(Qt::WA_DeleteOnClose);
    connect(dlg, &QFileDialog::fileSelected, m_app, [this](const QString& f) { m_app->importSession(f); });
    dlg->open();
  });
  connect(m_library, &LibraryPanel::exportRequested, this, [this](const QString& s) {
    auto* dlg = new QFileDialog(this, tr("Export '%1'").arg(s), s + QStringLiteral(".tome"), tr("Tome sessions (*.tome)"));
    dlg->setAcceptMode(QFileDialog::AcceptSave);
    dlg->setAttribute(Qt::WA_DeleteOnClose);
    connect(dlg, &QFileDialog::fileSelected, m_app, [this, s](const QString& f) { m_app->exportSession(s, f); });
    dlg->open();
  });
  connect(m_library, &LibraryPanel::renameRequested, this, [this](const QString& s) {
    auto* dlg = new QInputDialog(this);
    dlg->setWindowTitle(tr("Rename '%1'").arg(s));
    dlg->setLabelText(tr("New name:"));
    dlg->setTextValue(s);
    dlg->setAttribute(Qt::WA_DeleteOnClose);
    connect(dlg, &QInputDialog::textValueSelected, m_app, [this, s](const QString& n) { m_app->renameSession(s, n); });
    dlg->open();
  });
  connect(m_library, &LibraryPanel::deleteRequested, this, [this](const QString& s) { m_app->removeSession(s); });
  connect(m_chat, &ChatView::sourceClicked, this, &MainWindow::openLink);
  connect(m_sources, &SourcesPanel::sourceClicked, this, &MainWindow::openLink);
  connect(app->chat(), &ChatController::answerFinished, this, [this](int row) {
    // "where is X defined?" in a repository: jump to the first definition found.
    const ChatMessage* m = m_app->chat()->chat()->at(row);
    if (m && !m->sources.isEmpty() && m->sources.front().kind == SourceLink::Kind::Definition) openLink(m->sources.front());
  });
  resize(1280, 820);
}

PlanDialog* MainWindow::planDialog() const { return m_planDialog.data(); }

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("Open &File…"), QKeySequence::Open, m_library, &LibraryPanel::openFileRequested);
  file->addAction(tr("Open F&older…"), m_library, &LibraryPanel::openFolderRequested);
  file->addAction(tr("&Import session…"), m_library, &LibraryPanel::importRequested);
  file->addSeparator();
  file->addAction(tr("&Settings…"), this, [this] {
    auto* dlg = new SettingsDialog(m_app->settings(), this);
    dlg->open();
  });
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
}

void MainWindow::openPath(const QString& path) {
  if (path.isEmpty()) return;
  if (!m_app->modelReady()) {
    message(AppController::Level::Error, tr("No model is loaded: choose a model directory in File → Settings."));
    return;
  }
  if (m_app->ingest()->state() == IngestController::State::Reading) {
    message(AppController::Level::Warning, tr("A document is being read; wait for it or cancel it first."));
    return;
  }
  m_app->ingest()->planPath(path);
}

void MainWindow::showPlan(const IngestPlan& plan) {
  if (plan.whyNot == QLatin1String("Cancelled.")) return;
  if (m_planDialog) m_planDialog->close();
  auto* dlg = new PlanDialog(plan, this);
  m_planDialog = dlg;
  connect(dlg, &QDialog::accepted, m_app->ingest(), &IngestController::start);
  connect(dlg, &QDialog::rejected, m_app->ingest(), &IngestController::discard);
  dlg->open();
}

void MainWindow::openLink(const SourceLink& link) {
  if (link.docKind == QLatin1String("repository")) {
    m_tabs->setCurrentWidget(m_code);
    m_code->openFile(link.file, link.line);
  }
  m_viewer->open(link);
}

void MainWindow::message(AppController::Level level, const QString& text) {
  if (level == AppController::Level::Info) {
    statusBar()->showMessage(text, 8000);
    return;
  }
  m_messages->show(level == AppController::Level::Error ? MessageBar::Level::Error : MessageBar::Level::Warning, text);
}

void MainWindow::updateStatus() {
  const ModelInfo& mi = m_app->model();
  m_backendLabel->setText(mi.model ? tr("%1 on %2").arg(mi.name, mi.backend) : tr("no model"));
  const MemoryReport& m = m_app->memory();
  m_memoryLabel->setText(mi.model ? tr("%1: weights %2 · document KV %3 · threads %4 · workspace %5")
                                        .arg(m.gpu ? tr("GPU memory") : tr("memory"), humanBytes(m.weights), humanBytes(m.documentKv),
                                             humanBytes(m.threads), humanBytes(m.workspace))
                                  : QString());
  const SessionRow& s = m_app->currentSession();
  m_sessionLabel->setText(s.name.isEmpty() ? QString() : tr("%1: %2 on disk").arg(s.name, humanBytes(s.diskBytes)));
  if (mi.model && m.backend.isEmpty()) m_memory->setBackend(mi.backend);
}

void MainWindow::closeEvent(QCloseEvent* e) {
  if (!m_app->busy()) {
    e->accept();
    return;
  }
  // Work is running: cancel it (a read keeps its last checkpoint) and close once the worker is idle.
  m_closeWhenIdle = true;
  if (m_app->requestQuit()) {
    e->accept();
    return;
  }
  m_messages->show(MessageBar::Level::Warning, tr("Stopping the running work before closing; the last checkpoint is kept…"));
  e->ignore();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* e) {
  if (e->mimeData()->hasUrls()) e->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* e) {
  const QList<QUrl> urls = e->mimeData()->urls();
  if (urls.isEmpty() || !urls.front().isLocalFile()) return;
  e->acceptProposedAction();
  openPath(urls.front().toLocalFile());
}

}  // namespace tome::desktop
