// tome-desktop: the Tome desktop app. Creates the application, the controller (engine worker,
// library, models) and the main window; a path on the command line is planned for reading.
#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>

#include "tome/engine.h"
#include "ui/main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("tome-desktop"));
  QApplication::setOrganizationName(QStringLiteral("tome"));
  QApplication::setApplicationVersion(QString::fromLatin1(tome::version_string()));  // the project's
  QApplication::setDesktopFileName(QStringLiteral("tome"));
  QApplication::setWindowIcon(QIcon(QStringLiteral(":/tome/tome.svg")));
  QCommandLineParser cli;
  cli.setApplicationDescription(QStringLiteral("Tome: ask a whole book, PDF, EPUB or code repository"));
  cli.addHelpOption();
  cli.addVersionOption();
  cli.addPositionalArgument(QStringLiteral("path"), QStringLiteral("a document or folder to read (optional)"));
  cli.process(app);

  tome::desktop::AppController controller;
  tome::desktop::MainWindow window(&controller);
  window.show();
  controller.start();
  if (!cli.positionalArguments().isEmpty()) {
    const QString path = cli.positionalArguments().front();
    QObject::connect(&controller, &tome::desktop::AppController::modelReadyChanged, &window,
                     [&window, path, done = false](bool ready) mutable {
                       if (ready && !done) {
                         done = true;
                         window.openPath(path);
                       }
                     });
  }
  return app.exec();
}
