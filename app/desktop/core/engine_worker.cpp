// EngineWorker (engine_worker.h): the job queue on the worker thread and the jobs themselves,
// each a call into tome::service / tome::store / tome::session with its errors turned into
// messages. WorkerState is touched only on the worker thread.
#include "core/engine_worker.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QMetaObject>
#include <QPointer>
#include <algorithm>
#include <cmath>
#include <random>

#include "core/ingest_pipeline.h"
#include "core/source_index.h"
#include "tome/service/ingest.h"
#include "tome/service/service.h"

namespace tome::desktop {

class WorkerState {
 public:
  explicit WorkerState(EngineWorker* w) : w(w) {}
  EngineWorker* w;
  std::shared_ptr<const tome::model> model;
  ModelInfo info;
  std::unique_ptr<store::library> lib;
  // The open session's index (quotes, definitions, files) and its resident state (questions and
  // completions run on it and rewind to the document's end).
  QString indexSession;
  std::unique_ptr<SourceIndex> index;
  QString residentSession;
  std::unique_ptr<tome::session> resident;
  session_mark residentMark;

  void fail(const QString& what, const std::string& message) {
    emit w->failed(what.isEmpty() ? QString::fromStdString(message) : what + QStringLiteral(": ") + QString::fromStdString(message));
  }
  bool needLibrary() {
    if (lib) return true;
    emit w->failed(QStringLiteral("The session library is not open."));
    return false;
  }
  bool needModel() {
    if (model) return true;
    emit w->failed(QStringLiteral("No model is loaded: choose a model directory in Settings."));
    return false;
  }
  void dropSession(const QString& name) {
    if (indexSession == name) {
      index.reset();
      indexSession.clear();
    }
    if (residentSession == name) {
      resident.reset();
      residentSession.clear();
    }
  }

  void loadModel(const QString& dir, const QString& backend);
  void listSessions();
  void readDocument(const IngestPlan& plan, const ReadSettings& rs);
  void openSession(const QString& name);
  const SourceIndex* indexFor(const QString& name);
  void loadThread(const QString& session, const QString& thread);
  void ask(quint64 id, const QString& session, const QString& thread, const QString& question,
           const GenerationSettings& gen);
  void complete(quint64 id, const QString& session, const QString& prefix, const QString& suffix, int maxTokens);
  // Puts `session`'s document state on the backend once and marks its end (questions and
  // completions rewind to it); "" on success, else the reason.
  QString ensureResident(const QString& session, bool reload = false);
  void reportMemory(const QString& session);
  void rename(const QString& from, const QString& to);
};

namespace {

SessionRow toRow(const store::session_info& s) {
  SessionRow r;
  r.name = QString::fromStdString(s.name);
  r.model = QString::fromStdString(s.model_name);
  if (!s.documents.empty()) {
    r.kind = QString::fromStdString(s.documents.front().kind);
    r.path = QString::fromStdString(s.documents.front().path);
  }
  r.tokens = s.n_tokens;
  r.target = s.target_tokens;
  r.diskBytes = s.kv_bytes + s.state_bytes;
  r.updated = QDateTime::fromString(QString::fromStdString(s.updated_at), Qt::ISODate);
  for (const auto& t : s.threads) r.threads.push_back(QString::fromStdString(t.name));
  return r;
}

std::string str(const QString& s) { return s.toStdString(); }

}  // namespace

// ---- the queue -------------------------------------------------------------------------------

EngineWorker::EngineWorker(QObject* parent) : QObject(parent) {
  registerTypes();
  m_thread.setObjectName(QStringLiteral("tome-engine"));
  m_context = new QObject;
  m_context->moveToThread(&m_thread);
  m_state = new WorkerState(this);
  m_thread.start();
}

EngineWorker::~EngineWorker() {
  m_shuttingDown.store(true);
  cancelAll();
  // Release the engine on its own thread, after the running job stops at its next check (the jobs
  // still queued are skipped); the GUI thread waits for that, as owners do in their destructors.
  WorkerState* st = m_state;
  QMetaObject::invokeMethod(m_context, [st] { delete st; }, Qt::BlockingQueuedConnection);
  m_state = nullptr;
  m_thread.quit();
  m_thread.wait();
  delete m_context;
}

void EngineWorker::cancelAll() {
  m_cancelRead.store(true);
  m_stopAnswer.store(true);
  m_cancelCompletion.store(true);
}

template <class F>
void EngineWorker::post(F&& job) {
  m_pending.fetch_add(1);
  QMetaObject::invokeMethod(
      m_context,
      [this, job = std::forward<F>(job)]() mutable {
        if (!m_shuttingDown.load()) job();
        if (m_pending.fetch_sub(1) == 1 && !m_shuttingDown.load()) emit idle();
      },
      Qt::QueuedConnection);
}

void EngineWorker::loadModel(const QString& dir, const QString& backend) {
  post([this, dir, backend] { m_state->loadModel(dir, backend); });
}

void EngineWorker::openLibrary(const QString& path) {
  post([this, path] {
    QDir().mkpath(QFileInfo(path).absolutePath());
    auto lib = store::library::open(str(path));
    if (!lib) {
      emit failed(QStringLiteral("Library %1: %2").arg(path, QString::fromStdString(lib.message())));
      return;
    }
    m_state->lib = std::move(*lib);
    m_state->index.reset();
    m_state->indexSession.clear();
    m_state->resident.reset();
    m_state->residentSession.clear();
    emit libraryOpened(path);
    m_state->listSessions();
  });
}

void EngineWorker::refreshSessions() {
  post([this] { m_state->listSessions(); });
}

void EngineWorker::readDocument(const IngestPlan& plan, const ReadSettings& settings) {
  m_cancelRead.store(false);
  post([this, plan, settings] { m_state->readDocument(plan, settings); });
}

void EngineWorker::removeSession(const QString& name) {
  post([this, name] {
    if (!m_state->needLibrary()) return;
    m_state->dropSession(name);
    if (auto s = m_state->lib->remove_session(str(name)); !s) m_state->fail(QStringLiteral("Delete '%1'").arg(name), s.message());
    m_state->listSessions();
  });
}

void EngineWorker::renameSession(const QString& from, const QString& to) {
  post([this, from, to] { m_state->rename(from, to); });
}

void EngineWorker::exportSession(const QString& name, const QString& file) {
  post([this, name, file] {
    if (!m_state->needLibrary()) return;
    if (auto s = m_state->lib->export_session(str(name), str(file)); !s)
      m_state->fail(QStringLiteral("Export '%1'").arg(name), s.message());
  });
}

void EngineWorker::importSession(const QString& file, const QString& newName) {
  post([this, file, newName] {
    if (!m_state->needLibrary() || !m_state->needModel()) return;
    auto r = m_state->lib->import_session(str(file), *m_state->model, str(newName));
    if (!r) m_state->fail(QStringLiteral("Import %1").arg(file), r.message());
    m_state->listSessions();
  });
}

void EngineWorker::openSession(const QString& name) {
  post([this, name] { m_state->openSession(name); });
}

void EngineWorker::loadThread(const QString& session, const QString& thread) {
  post([this, session, thread] { m_state->loadThread(session, thread); });
}

void EngineWorker::removeThread(const QString& session, const QString& thread) {
  post([this, session, thread] {
    if (!m_state->needLibrary()) return;
    if (auto s = m_state->lib->remove_thread(str(session), str(thread)); !s)
      m_state->fail(QStringLiteral("Delete thread '%1'").arg(thread), s.message());
    m_state->listSessions();
  });
}

void EngineWorker::ask(quint64 id, const QString& session, const QString& thread, const QString& question,
                       const GenerationSettings& gen) {
  m_stopAnswer.store(false);
  post([this, id, session, thread, question, gen] { m_state->ask(id, session, thread, question, gen); });
}

void EngineWorker::complete(quint64 id, const QString& session, const QString& prefix, const QString& suffix,
                            int maxTokens) {
  m_latestCompletion.store(id);
  post([this, id, session, prefix, suffix, maxTokens] {
    if (id != m_latestCompletion.load()) return emit completionReady(id, QString(), QStringLiteral("cancelled"));
    m_cancelCompletion.store(false);  // cancels meant for older requests are spent
    m_state->complete(id, session, prefix, suffix, maxTokens);
  });
}

// ---- the jobs (worker thread) ----------------------------------------------------------------

void WorkerState::loadModel(const QString& dir, const QString& backend) {
  load_params lp;
  lp.backend = backend == QLatin1String("cpu")    ? backend_kind::cpu
               : backend == QLatin1String("cuda") || backend == QLatin1String("gpu") ? backend_kind::cuda
                                                  : backend_kind::automatic;
  if (!QFileInfo(dir).isDir()) {
    emit w->modelFailed(QStringLiteral("Model directory %1 does not exist: choose one in Settings.").arg(dir));
    return;
  }
  auto m = tome::model::load(str(dir), lp);
  if (!m) {
    emit w->modelFailed(QStringLiteral("The model in %1 cannot be loaded: %2").arg(dir, QString::fromStdString(m.message())));
    return;
  }
  resident.reset();
  residentSession.clear();
  model = std::move(*m);
  const model_config& c = model->config();
  info = ModelInfo{};
  info.name = QString::fromStdString(c.name);
  info.directory = dir;
  info.gpu = model->backend_in_use() == backend_kind::cuda;
  info.backend = QString::fromStdString(model->backend_description());
  info.weightsBytes = model->memory().weights;
  info.kvBytesPerToken = 2 * c.kv_dim() * (info.gpu ? 2 : 4);
  info.maxContext = c.max_context;
  info.model = model;
  // A short prefill measures this machine's speed for the pre-ingest plan (about 0.2 s on a CPU).
  if (auto s = tome::session::create(model)) {
    std::vector<int32_t> probe(1024);
    std::mt19937 rng(7);
    for (auto& t : probe) t = static_cast<int32_t>(16 + rng() % static_cast<uint32_t>(std::max<int64_t>(17, c.vocab_size) - 16));
    prefill_params pp;
    pp.compute_logits = false;
    pp.chunk_tokens = 1024;
    QElapsedTimer t;
    t.start();
    if (auto r = (*s)->prefill(probe, pp); r && t.elapsed() > 0)
      info.prefillTokensPerSecond = probe.size() * 1000.0 / static_cast<double>(t.elapsed());
    info.stateBytes = (*s)->memory().self_state;
  }
  emit w->modelLoaded(info);
}

void WorkerState::listSessions() {
  if (!lib) return;
  auto s = lib->sessions();
  if (!s) {
    fail(QStringLiteral("Library"), s.message());
    return;
  }
  QList<SessionRow> rows;
  for (const auto& i : *s) rows.push_back(toRow(i));
  emit w->sessionsChanged(rows);
}

void WorkerState::readDocument(const IngestPlan& plan, const ReadSettings& rs) {
  const QString name = plan.session;
  if (!needLibrary() || !needModel()) {
    emit w->readFinished(name, false, QStringLiteral("not ready"));
    return;
  }
  if (!plan.prepared) {
    emit w->readFinished(name, false, plan.whyNot.isEmpty() ? QStringLiteral("nothing to read") : plan.whyNot);
    return;
  }
  service::read_params rp;
  if (auto st = store::parse_kv_storage(str(rs.kvStorage))) rp.spec.storage = *st;
  rp.checkpoint.chunk_tokens = rs.chunkTokens > 0 ? rs.chunkTokens : (info.gpu ? 32768 : 4096);
  rp.checkpoint.cancel = &w->m_cancelRead;
  int64_t resumed = -1;
  if (auto i = lib->info(str(name))) resumed = i->n_tokens;
  emit w->readStarted(name, std::max<int64_t>(resumed, 0), plan.tokens);
  rp.checkpoint.on_progress = [&](const prefill_progress& p) {
    const double left = p.tokens_per_second > 0 ? (p.total - p.done) / p.tokens_per_second : -1;
    emit w->readProgress(name, p.done, p.total, p.tokens_per_second, left);
  };
  dropSession(name);
  auto r = service::read_document(*lib, model, str(name), plan.prepared->record, plan.prepared->tokens, rp);
  listSessions();
  if (!r) {
    emit w->readFinished(name, false, QString::fromStdString(r.message()));
    return;
  }
  emit w->readFinished(name, r->cancelled || w->m_cancelRead.load(), QString());
}

const SourceIndex* WorkerState::indexFor(const QString& name) {
  if (index && indexSession == name) return index.get();
  auto i = lib->info(str(name));
  auto toks = lib->tokens(str(name));
  if (!i || !toks || !model || !model->has_tokenizer()) return nullptr;
  index = std::make_unique<SourceIndex>(SourceIndex::build(model->tok(), *toks, i->documents));
  indexSession = name;
  return index.get();
}

void WorkerState::openSession(const QString& name) {
  if (!needLibrary()) return;
  auto i = lib->info(str(name));
  if (!i) {
    fail(QStringLiteral("Open '%1'").arg(name), i.message());
    return;
  }
  if (model && i->model_fingerprint != model->fingerprint()) {
    emit w->failed(QStringLiteral("'%1' was read by the model %2, not by the loaded model %3: load that model "
                                  "(Settings) to ask about it.")
                       .arg(name, QString::fromStdString(i->model_name), info.name));
  }
  QStringList files;
  if (model && i->model_fingerprint == model->fingerprint())
    if (const SourceIndex* ix = indexFor(name)) files = ix->files();
  emit w->sessionOpened(toRow(*i), files);
  reportMemory(name);
}

void WorkerState::loadThread(const QString& session, const QString& thread) {
  if (!needLibrary() || !needModel()) return;
  auto i = lib->info(str(session));
  if (!i) return fail(QStringLiteral("Thread '%1'").arg(thread), i.message());
  int64_t base = i->n_tokens;
  for (const auto& t : i->threads)
    if (t.name == str(thread)) base = t.base_tokens;
  auto toks = lib->tokens(str(session), str(thread));
  if (!toks) return fail(QStringLiteral("Thread '%1'").arg(thread), toks.message());
  // The thread's own tokens: <|question|>Q<|answer|>A</s> … rebuilt into messages.
  const model_config& c = model->config();
  const int32_t q = c.special_id("question"), a = c.special_id("answer");
  QList<ChatMessage> msgs;
  std::vector<int32_t> cur;
  ChatMessage::Role role = ChatMessage::Role::User;
  bool open = false;
  auto flush = [&] {
    if (!open) return;
    ChatMessage m;
    m.role = role;
    m.text = QString::fromStdString(model->tok().decode(cur)).trimmed();
    const SourceIndex* ix = role == ChatMessage::Role::Assistant ? indexFor(session) : nullptr;
    if (ix) m.sources = ix->findQuotes(m.text);
    msgs.push_back(m);
    cur.clear();
  };
  for (size_t k = static_cast<size_t>(std::max<int64_t>(base, 0)); k < toks->size(); ++k) {
    const int32_t t = (*toks)[k];
    if (t == q || t == a) {
      flush();
      role = t == q ? ChatMessage::Role::User : ChatMessage::Role::Assistant;
      open = true;
    } else if (!model->tok().is_special(t)) {
      cur.push_back(t);
    }
  }
  flush();
  emit w->threadLoaded(session, thread, msgs);
  reportMemory(session);
}

void WorkerState::ask(quint64 id, const QString& session, const QString& thread, const QString& question,
                      const GenerationSettings& gen) {
  if (!needLibrary() || !needModel()) {
    emit w->answerFinished(id, session, thread, QString(), {}, false, QStringLiteral("not ready"));
    return;
  }
  service::ask_params p;
  p.thread = str(thread);
  p.gen.max_tokens = gen.maxTokens;
  p.gen.sampling.temperature = static_cast<float>(gen.temperature);
  p.gen.sampling.top_p = static_cast<float>(gen.topP);
  p.gen.sampling.seed = gen.seed;
  p.gen.cancel = &w->m_stopAnswer;
  p.attention = true;  // the attended passages beside the answer (one more pass per token)
  // "Which file defines X?" in a repository: the answer is one of the session's file paths (never a
  // near-copy of one): the file the model's pointer heads attend to most from the symbol, else
  // the path the model finds most likely; the definitions found in the text are linked beside it
  // as for any definition question.
  if (const SourceIndex* ix = indexFor(session); ix && !ix->files().isEmpty() && !definitionQuery(question).isEmpty()) {
    p.choose_path = true;
    p.attention = false;
    // The model's pointer heads answer when the question names a symbol: say where they looked
    // and how sure they were (the runner-up too), so a close call is visible.
    p.on_pointer = [worker = w, id](const service::ask_params::pointer_event& e) {
      emit worker->answerNote(id, QString::fromStdString(service::describe_pointer(e)) + QStringLiteral("."));
    };
    // Otherwise (no symbol in the question, or a model without pointer heads) the path choice:
    // the first such question of a document scores every path once (kept in the library).
    p.on_path_prior = [worker = w, id](const service::ask_params::path_prior_event& e) {
      const QString what = e.paths == 1 ? EngineWorker::tr("its file path")
                                        : EngineWorker::tr("its %1 file paths").arg(e.paths);
      const double sec = e.estimated_seconds;
      const QString cost = sec < 90 ? EngineWorker::tr("%1 s").arg(std::max(1.0, std::round(sec)))
                                    : EngineWorker::tr("%1 min").arg(std::round(sec / 60));
      emit worker->answerNote(
          id, e.skipped ? EngineWorker::tr("This file choice is not calibrated: scoring %1 would take about %2 "
                                           "on this device.")
                              .arg(what, cost)
                        : EngineWorker::tr("Calibrating the file choice for this repository: scoring %1 once "
                                           "(about %2; kept for later questions)…")
                              .arg(what, cost));
    };
  }
  auto stream = [&](int32_t, std::string_view text) {
    if (!text.empty()) emit w->answerToken(id, QString::fromUtf8(text.data(), static_cast<qsizetype>(text.size())));
    return true;
  };
  // The document stays on the backend between questions (loaded once, rewound after each answer):
  // asking about a large book does not read its KV from disk every time.
  if (const QString why = ensureResident(session); !why.isEmpty()) {
    emit w->answerFinished(id, session, thread, QString(), {}, false, why);
    return;
  }
  auto r = service::ask_resident(*lib, *resident, residentMark, str(session), str(question), p, stream);
  if (!r && r.message().find("open it again") != std::string::npos) {  // read again meanwhile
    if (const QString why = ensureResident(session, true); why.isEmpty())
      r = service::ask_resident(*lib, *resident, residentMark, str(session), str(question), p, stream);
  }
  if (!r) {
    emit w->answerFinished(id, session, thread, QString(), {}, false, QString::fromStdString(r.message()));
    return;
  }
  const QString text = QString::fromStdString(r->answer.text);
  QList<SourceLink> sources;
  if (const SourceIndex* ix = indexFor(session)) {
    const QString name = definitionQuery(question);
    if (!name.isEmpty()) sources += ix->findDefinitions(name);
    sources += ix->findQuotes(text);
  }
  // The passages the answer attended to most: the last cross-decoder layer's attention mass over
  // the document, summed over the answer's tokens, aggregated to lines through the source map.
  if (auto info = lib->info(str(session)); info && !r->attention.empty()) {
    auto spans = service::attention_sources(*info, r->attention, 5);
    if (spans) {
      for (const auto& sp : *spans) {
        const auto& doc = info->documents[sp.document];
        SourceLink l;
        l.kind = SourceLink::Kind::Attention;
        l.docPath = QString::fromStdString(doc.path);
        l.docKind = QString::fromStdString(doc.kind);
        l.file = QString::fromStdString(sp.source.file);
        l.page = sp.source.page;
        l.line = sp.source.line_begin;
        l.title = QString::fromStdString(sp.source.title);
        l.weight = sp.mass;
        sources += l;
      }
    } else {
      emit w->failed(QString::fromStdString(spans.message()));
    }
  }
  emit w->answerFinished(id, session, QString::fromStdString(r->thread), text, sources,
                         r->answer.reason == stop_reason::cancelled, QString());
  listSessions();
  reportMemory(session);
}

void WorkerState::complete(quint64 id, const QString& session, const QString& prefix, const QString& suffix,
                           int maxTokens) {
  if (!needLibrary() || !needModel()) {
    emit w->completionReady(id, QString(), QStringLiteral("not ready"));
    return;
  }
  if (!model->config().templates.count("completion"))
    return emit w->completionReady(id, QString(), QStringLiteral("the model has no completion template"));
  if (const QString why = ensureResident(session); !why.isEmpty())
    return emit w->completionReady(id, QString(), why);
  auto fim = model->tok().encode_template("completion", {{"prefix", str(prefix)}, {"suffix", str(suffix)}});
  if (!fim) return emit w->completionReady(id, QString(), QString::fromStdString(fim.message()));
  QString out, err;
  prefill_params pp;
  pp.cancel = &w->m_cancelCompletion;
  auto pr = resident->prefill(*fim, pp);
  if (!pr) {
    err = QString::fromStdString(pr.message());
  } else if (pr->cancelled) {
    err = QStringLiteral("cancelled");
  } else {
    generate_params gp;
    gp.max_tokens = maxTokens;
    gp.cancel = &w->m_cancelCompletion;
    auto g = resident->generate(gp);
    if (!g) err = QString::fromStdString(g.message());
    else if (g->reason == stop_reason::cancelled) err = QStringLiteral("cancelled");
    else out = QString::fromStdString(g->text);
  }
  if (auto s = resident->rewind(residentMark); !s) {  // back to the end of the documents
    resident.reset();
    residentSession.clear();
  }
  emit w->completionReady(id, out, err);
}

QString WorkerState::ensureResident(const QString& session, bool reload) {
  if (resident && residentSession == session && !reload) return {};
  resident.reset();
  residentSession.clear();
  auto info = lib->info(str(session));
  if (!info) return QString::fromStdString(info.message());
  if (!info->complete()) return QStringLiteral("the session is not fully read yet");
  auto s = lib->load(str(session), model);
  if (!s) return QString::fromStdString(s.message());
  auto mk = (*s)->mark();
  if (!mk) return QString::fromStdString(mk.message());
  resident = std::move(*s);
  residentMark = *mk;
  residentSession = session;
  reportMemory(session);
  return {};
}

void WorkerState::reportMemory(const QString& session) {
  if (!model) return;
  MemoryReport m;
  m.backend = info.backend;
  m.gpu = info.gpu;
  const memory_breakdown mm = model->memory();
  m.weights = mm.weights;
  m.workspace = mm.workspace;
  if (lib) {
    if (auto i = lib->info(str(session))) {
      m.sessionDisk = i->kv_bytes + i->state_bytes;
      // The document's KV as it sits on the backend when asked about (or resident for completion).
      m.documentKv = resident && residentSession == session ? resident->memory().global_kv : i->n_tokens * info.kvBytesPerToken;
      int64_t own = 0;
      for (const auto& t : i->threads) own = std::max<int64_t>(own, t.n_tokens - t.base_tokens);
      m.threads = own * info.kvBytesPerToken + info.stateBytes;  // the largest thread while it answers
    }
  }
  if (resident && residentSession == session) m.workspace += resident->memory().workspace;
  emit w->memoryChanged(m);
}

void WorkerState::rename(const QString& from, const QString& to) {
  if (!needLibrary()) return;
  if (auto s = lib->rename_session(str(from), str(to)); !s)
    return fail(QStringLiteral("Rename '%1'").arg(from), s.message());
  dropSession(from);
  listSessions();
}

}  // namespace tome::desktop
