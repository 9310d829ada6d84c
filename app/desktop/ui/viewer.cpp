// Viewer (viewer.h).
#include "ui/viewer.h"

#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QPlainTextEdit>
#include <QScrollArea>
#include <QScrollBar>
#include <QStackedWidget>
#include <QTextBlock>
#include <QVBoxLayout>

#include "tome/ingest/ingest.h"

#ifdef TOME_HAVE_POPPLER_QT6
#include <poppler-qt6.h>
#endif

namespace tome::desktop {

QString resolveLinkPath(const SourceLink& link) {
  const QFileInfo doc(link.docPath);
  if (doc.isDir()) return doc.absoluteFilePath() + QLatin1Char('/') + link.file;
  return doc.absoluteFilePath();
}

Viewer::Viewer(QWidget* parent) : QWidget(parent) {
  auto* l = new QVBoxLayout(this);
  l->setContentsMargins(0, 0, 0, 0);
  m_header = new QLabel(tr("Click a source to open it here."), this);
  m_header->setObjectName(QStringLiteral("viewerHeader"));
  m_header->setWordWrap(true);
  m_stack = new QStackedWidget(this);
  m_text = new QPlainTextEdit(this);
  m_text->setObjectName(QStringLiteral("viewerText"));
  m_text->setReadOnly(true);
  m_text->setLineWrapMode(QPlainTextEdit::WidgetWidth);
  m_pdfArea = new QScrollArea(this);
  m_pdfPage = new QLabel(this);
  m_pdfPage->setObjectName(QStringLiteral("viewerPdfPage"));
  m_pdfArea->setWidget(m_pdfPage);
  m_pdfArea->setWidgetResizable(false);
  m_stack->addWidget(m_text);
  m_stack->addWidget(m_pdfArea);
  l->addWidget(m_header);
  l->addWidget(m_stack, 1);
}

Viewer::~Viewer() = default;

QString Viewer::lineText() const {
  if (m_line <= 0) return {};
  return m_text->document()->findBlockByNumber(m_line - 1).text();
}

bool Viewer::open(const SourceLink& link) {
  const QString path = resolveLinkPath(link);
  if (!QFileInfo(path).isFile()) {
    m_header->setText(tr("%1 is not on this machine any more (moved or deleted); the session still holds its text.").arg(path));
    return false;
  }
  const bool ok = link.docKind == QLatin1String("pdf") ? openPdf(path, link.page, link.line) : openText(path, link.line);
  if (ok) emit opened(m_file, m_page, m_line);
  return ok;
}

bool Viewer::openText(const QString& path, int line) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) {
    m_header->setText(tr("%1 cannot be read: %2").arg(path, f.errorString()));
    return false;
  }
  if (m_file != path) m_text->setPlainText(QString::fromUtf8(f.readAll()));
  m_file = path;
  m_page = 0;
  m_line = line;
  m_stack->setCurrentWidget(m_text);
  m_header->setText(line > 0 ? tr("%1, line %2").arg(QFileInfo(path).fileName()).arg(line) : QFileInfo(path).fileName());
  QList<QTextEdit::ExtraSelection> marks;
  if (line > 0) {
    const QTextBlock block = m_text->document()->findBlockByNumber(line - 1);
    QTextCursor c(block);
    m_text->setTextCursor(c);
    QTextEdit::ExtraSelection sel;
    sel.cursor = c;
    sel.cursor.clearSelection();
    sel.format.setBackground(QColor(255, 236, 150));
    sel.format.setProperty(QTextFormat::FullWidthSelection, true);
    marks.push_back(sel);
    m_text->centerCursor();
  }
  m_text->setExtraSelections(marks);
  return true;
}

bool Viewer::openPdf(const QString& path, int page, int line) {
#ifdef TOME_HAVE_POPPLER_QT6
  // poppler-qt6 shares libpoppler with ingest, which may be reading a PDF on the worker thread:
  // the library's process-wide state must be set up by one thread first.
  tome::ingest::prepare_pdf_library();
  std::unique_ptr<Poppler::Document> doc = Poppler::Document::load(path);
  if (!doc || doc->isLocked()) {
    m_header->setText(tr("%1 cannot be opened as a PDF here.").arg(path));
    return false;
  }
  doc->setRenderHint(Poppler::Document::Antialiasing);
  doc->setRenderHint(Poppler::Document::TextAntialiasing);
  const int index = std::clamp(page, 1, std::max(1, doc->numPages())) - 1;
  std::unique_ptr<Poppler::Page> p = doc->page(index);
  if (!p) {
    m_header->setText(tr("%1 has no page %2.").arg(path).arg(page));
    return false;
  }
  const QImage img = p->renderToImage(110, 110);
  m_pdfPage->setPixmap(QPixmap::fromImage(img));
  m_pdfPage->resize(img.size());
  m_file = path;
  m_page = index + 1;
  m_line = line;
  m_stack->setCurrentWidget(m_pdfArea);
  m_pdfArea->verticalScrollBar()->setValue(0);
  m_header->setText(line > 0 ? tr("%1, page %2 (line %3 of the page's text)").arg(QFileInfo(path).fileName()).arg(m_page).arg(line)
                             : tr("%1, page %2").arg(QFileInfo(path).fileName()).arg(m_page));
  return true;
#else
  m_header->setText(tr("Built without poppler-qt6: PDF pages cannot be shown (page %1, line %2 of %3).").arg(page).arg(line).arg(path));
  return false;
#endif
}

}  // namespace tome::desktop
