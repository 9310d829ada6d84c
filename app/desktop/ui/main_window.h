// MainWindow: the Tome desktop window. Library on the left (sessions; Open File/Folder, drag and
// drop; import/export/rename/delete), the chat and code views in the middle, sources, the memory
// panel and the viewer on the right, messages in a bar at the top, the ingest progress and the
// status (backend, memory, session size) at the bottom. Closing while work runs cancels it
// (the last checkpoint is kept) and closes once the worker is idle. GUI thread.
#pragma once

#include <QMainWindow>
#include <QPointer>

#include "core/app_controller.h"

class QLabel;
class QTabWidget;

namespace tome::desktop {

class ChatView;
class CodeView;
class IngestPanel;
class LibraryPanel;
class MemoryPanel;
class MessageBar;
class PlanDialog;
class SourcesPanel;
class Viewer;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(AppController* app, QWidget* parent = nullptr);

  // What Open File / Open Folder / a drop do after the file dialog: plan the path.
  void openPath(const QString& path);
  void openLink(const SourceLink& link);

  AppController* app() const { return m_app; }
  LibraryPanel* libraryPanel() const { return m_library; }
  ChatView* chatView() const { return m_chat; }
  CodeView* codeView() const { return m_code; }
  SourcesPanel* sourcesPanel() const { return m_sources; }
  Viewer* viewer() const { return m_viewer; }
  MessageBar* messageBar() const { return m_messages; }
  IngestPanel* ingestPanel() const { return m_ingestPanel; }
  MemoryPanel* memoryPanel() const { return m_memory; }
  PlanDialog* planDialog() const;
  QTabWidget* centerTabs() const { return m_tabs; }

 protected:
  void closeEvent(QCloseEvent* e) override;
  void dragEnterEvent(QDragEnterEvent* e) override;
  void dropEvent(QDropEvent* e) override;

 private:
  void buildMenus();
  void showPlan(const IngestPlan& plan);
  void message(AppController::Level level, const QString& text);
  void updateStatus();
  AppController* m_app;
  MessageBar* m_messages;
  LibraryPanel* m_library;
  QTabWidget* m_tabs;
  ChatView* m_chat;
  CodeView* m_code;
  SourcesPanel* m_sources;
  MemoryPanel* m_memory;
  Viewer* m_viewer;
  IngestPanel* m_ingestPanel;
  QLabel* m_backendLabel;
  QLabel* m_memoryLabel;
  QLabel* m_sessionLabel;
  QPointer<PlanDialog> m_planDialog;
  bool m_closeWhenIdle = false;
};

}  // namespace tome::desktop
