// Viewer: the source a link points to. Text, Markdown and code files open in a read-only text
// view scrolled to the line, which is highlighted; PDF pages are rendered with poppler-qt6 (when
// built with it) and the page's text line is named. A file that cannot be found is a message in
// the viewer, not an error dialog. GUI thread.
#pragma once

#include <QWidget>
#include <memory>

#include "core/types.h"

class QLabel;
class QPlainTextEdit;
class QScrollArea;
class QStackedWidget;

namespace tome::desktop {

class Viewer : public QWidget {
  Q_OBJECT
 public:
  explicit Viewer(QWidget* parent = nullptr);
  ~Viewer() override;
  // Opens the link's file at its page or line; false (with a message shown) when it cannot.
  bool open(const SourceLink& link);
  QString currentFile() const { return m_file; }  // absolute path of the shown file
  int currentLine() const { return m_line; }
  int currentPage() const { return m_page; }
  QString lineText() const;  // the highlighted line (text view)

 signals:
  void opened(const QString& file, int page, int line);

 private:
  bool openText(const QString& path, int line);
  bool openPdf(const QString& path, int page, int line);
  QLabel* m_header;
  QStackedWidget* m_stack;
  QPlainTextEdit* m_text;
  QScrollArea* m_pdfArea;
  QLabel* m_pdfPage;
  QString m_file;
  int m_line = 0, m_page = 0;
};

// The file on disk a link refers to: the single file itself, or repository root + relative path.
QString resolveLinkPath(const SourceLink& link);

}  // namespace tome::desktop
