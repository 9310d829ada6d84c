// prepareIngest (ingest_pipeline.h): the plan of service::plan_ingest (the same steps and document
// record as `tome ingest`), in the desktop's terms, with the app's own context limit on top.
#include "core/ingest_pipeline.h"

#include <QFileInfo>

#include "tome/engine.h"
#include "tome/ingest/ingest.h"
#include "tome/service/ingest.h"

namespace tome::desktop {
namespace {

IngestPlan refuse(IngestPlan plan, const QString& why) {
  plan.fits = false;
  plan.whyNot = why;
  plan.prepared.reset();
  return plan;
}

}  // namespace

IngestPlan prepareIngest(const IngestRequest& req, const ModelInfo& mi,
                         const std::atomic<bool>* cancel,
                         const std::function<void(const PipelineProgress&)>& onProgress) {
  IngestPlan plan;
  const QFileInfo fi(req.path);
  plan.path = fi.absoluteFilePath();
  plan.session = req.session.isEmpty() ? fi.fileName() : req.session;
  plan.backend = mi.backend;
  if (!mi.model) return refuse(plan, QStringLiteral("No model is loaded (see Settings → Model directory)."));
  if (!mi.model->has_tokenizer()) return refuse(plan, QStringLiteral("The model has no tokenizer."));
  if (!fi.exists()) return refuse(plan, QStringLiteral("%1: no such file or folder.").arg(req.path));

  service::plan_params pp;
  pp.ingest.pdf.password = req.password.toStdString();
  pp.ingest.cancel = cancel;
  pp.ingest.on_progress = [&](const ingest::progress& p) {
    if (onProgress)
      onProgress({QString::fromUtf8(p.stage.data(), static_cast<qsizetype>(p.stage.size())),
                  static_cast<qint64>(p.done), static_cast<qint64>(p.total)});
  };
  // No probe prefill here: the engine thread owns the backend; the rate measured when the model
  // loaded gives the expected time.
  pp.probe_tokens = 0;
  pp.storage = store::parse_kv_storage(req.kvStorage.toStdString()).value_or(store::kv_storage::f32);
  pp.library = req.libraryPath.toStdString();
  auto sp = service::plan_ingest(plan.path.toStdString(), mi.model, pp);
  if (!sp) return refuse(plan, QString::fromStdString(sp.message()));

  plan.title = QString::fromStdString(sp->doc.title);
  plan.kind = QString::fromStdString(sp->record.kind);
  plan.pages = static_cast<qint64>(sp->doc.report.pages);
  plan.files = static_cast<qint64>(sp->doc.report.files);
  plan.report = QString::fromStdString(ingest::format_report(sp->doc.report));
  auto prepared = std::make_shared<PreparedDocument>();
  prepared->tokens = sp->tokens;
  prepared->record = sp->record;
  plan.tokens = static_cast<qint64>(prepared->tokens.size());
  plan.kvBytes = sp->memory.need.global_kv;
  plan.memoryBytes = sp->memory.need.weights + sp->memory.additional();
  plan.memoryAvailable = sp->memory.available;
  plan.diskBytes = sp->disk_bytes;
  plan.diskAvailable = sp->disk_free;
  plan.expectedSeconds = mi.prefillTokensPerSecond > 0 ? plan.tokens / mi.prefillTokensPerSecond : -1;
  plan.prepared = std::move(prepared);
  if (!sp->fits()) return refuse(plan, QString::fromStdString(sp->refusal));

  if (plan.tokens > mi.maxContext)
    return refuse(plan, QStringLiteral("It needs %1 tokens, more than the model's maximum context of %2 "
                                       "tokens. Tome does not truncate: choose a smaller document or "
                                       "a model with a longer context.")
                            .arg(plan.tokens).arg(mi.maxContext));
  plan.fits = true;
  return plan;
}

}  // namespace tome::desktop
