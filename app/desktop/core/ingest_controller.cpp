// IngestController (ingest_controller.h).
#include "core/ingest_controller.h"

#include <QFileInfo>
#include <QPointer>

#include "core/engine_worker.h"
#include "core/ingest_pipeline.h"
#include "core/library_model.h"
#include "core/settings.h"

namespace tome::desktop {

IngestController::IngestController(EngineWorker* worker, LibraryModel* library, Settings* settings, QObject* parent)
    : QObject(parent), m_worker(worker), m_library(library), m_settings(settings) {
  m_pool.setMaxThreadCount(1);  // one plan at a time; ingest itself uses a few threads per PDF/repository
  connect(worker, &EngineWorker::readProgress, this, [this](const QString& s, qint64 done, qint64 total, double tps, double left) {
    if (m_state == State::Reading && s == m_plan.session) emit progress(done, total, tps, left);
  });
  connect(worker, &EngineWorker::readFinished, this, [this](const QString& s, bool cancelled, const QString& error) {
    if (m_state != State::Reading || s != m_plan.session) return;
    m_plan = IngestPlan{};
    setState(State::Idle);
    emit finished(s, cancelled, error);
  });
}

IngestController::~IngestController() {
  m_cancelPlan->store(true);
  m_pool.waitForDone();
}

void IngestController::setState(State s) {
  if (m_state == s) return;
  m_state = s;
  emit stateChanged(s);
}

void IngestController::planPath(const QString& path, const QString& session, const QString& password) {
  if (m_state == State::Reading) return;
  m_cancelPlan->store(true);  // a previous plan still running is abandoned
  m_cancelPlan = std::make_shared<std::atomic<bool>>(false);
  IngestRequest req;
  req.path = path;
  req.session = session.isEmpty() ? m_library->uniqueName(QFileInfo(path).fileName()) : session;
  req.password = password;
  req.libraryPath = m_settings->libraryPath();
  req.kvStorage = m_settings->kvStorage();
  const quint64 id = ++m_planId;
  const ModelInfo model = m_model;
  auto cancel = m_cancelPlan;
  QPointer<IngestController> self(this);
  m_plan = IngestPlan{};
  setState(State::Planning);
  m_pool.start([self, id, req, model, cancel] {
    IngestPlan plan = prepareIngest(req, model, cancel.get(), [&](const PipelineProgress& p) {
      if (self) QMetaObject::invokeMethod(self, [self, id, p] {
        if (self && self->m_planId == id) emit self->planProgress(p.stage, p.done, p.total);
      }, Qt::QueuedConnection);
    });
    if (cancel->load()) {
      plan = IngestPlan{};
      plan.path = req.path;
      plan.session = req.session;
      plan.whyNot = QStringLiteral("Cancelled.");
    }
    if (self) QMetaObject::invokeMethod(self, [self, id, plan] {
      if (!self || self->m_planId != id) return;
      self->m_plan = plan;
      self->setState(State::Planned);
      emit self->planReady(plan);
      if (self->m_autoStart) {
        self->m_autoStart = false;
        if (plan.fits) self->start();
      }
    }, Qt::QueuedConnection);
  });
}

void IngestController::start() {
  if (m_state != State::Planned || !m_plan.fits || !m_plan.prepared) return;
  setState(State::Reading);
  m_worker->readDocument(m_plan, m_settings->readSettings());
}

void IngestController::cancel() {
  if (m_state == State::Planning) {
    m_cancelPlan->store(true);
    ++m_planId;  // its result is dropped
    m_autoStart = false;
    m_plan = IngestPlan{};
    setState(State::Idle);
    emit finished(QString(), true, QString());
  } else if (m_state == State::Reading) {
    m_worker->cancelRead();  // readFinished(cancelled) follows within a layer
  }
}

void IngestController::discard() {
  if (m_state != State::Planned) return;
  m_plan = IngestPlan{};
  setState(State::Idle);
}

void IngestController::resume(const SessionRow& row) {
  m_autoStart = true;
  planPath(row.path, row.name);
}

}  // namespace tome::desktop
