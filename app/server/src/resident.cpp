// resident_session (resident.h): load once, mark the document's end, and run jobs FIFO on one
// worker thread: [thread turns] + request tokens are prefilled after the mark in chunks that
// check the job's cancel flag, the answer is generated (streamed into the job), the thread is
// saved when the request names one, and the session is rewound to the mark. If a rewind ever
// fails, the document state is loaded again from the library.
#include "resident.h"

namespace tome::server {

result<std::unique_ptr<resident_session>> resident_session::load(
    std::shared_ptr<shared_library> lib, std::shared_ptr<const model> m, const std::string& name,
    int64_t prefill_chunk, std::shared_ptr<server_stats_counters> stats) {
  std::unique_ptr<resident_session> r(new resident_session());
  r->name_ = name;
  r->lib_ = std::move(lib);
  r->model_ = std::move(m);
  r->prefill_chunk_ = prefill_chunk;
  r->stats_ = std::move(stats);
  {
    std::lock_guard<std::mutex> lk(r->lib_->mu);
    auto info = r->lib_->lib->info(name);
    if (!info) return info.error_status();
    if (!info->complete())
      return error("session '" + name + "' is not fully read yet (" +
                   std::to_string(info->n_tokens) + " of " + std::to_string(info->target_tokens) +
                   " tokens): finish `tome ingest` first");
    auto s = r->lib_->lib->load(name, r->model_);
    if (!s) return s.error_status().with_context("session '" + name + "'");
    r->s_ = std::move(*s);
  }
  auto mk = r->s_->mark();
  if (!mk) return mk.error_status();
  r->mark_ = *mk;
  r->context_tokens_ = r->s_->n_tokens();
  r->worker_ = std::thread([p = r.get()] { p->worker_loop(); });
  return r;
}

resident_session::~resident_session() {
  {
    std::lock_guard<std::mutex> lk(qmu_);
    stopping_ = true;
    if (running_) running_->cancel = true;
    for (auto& j : queue_) j->cancel = true;
  }
  qcv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // Jobs still queued: finish them as cancelled, so that no HTTP thread waits for ever.
  for (auto& j : queue_) {
    std::lock_guard<std::mutex> lk(j->mu);
    j->cancelled = j->done = true;
    j->cv.notify_all();
  }
}

void resident_session::submit(std::shared_ptr<job> j) {
  {
    std::lock_guard<std::mutex> lk(qmu_);
    queue_.push_back(std::move(j));
  }
  qcv_.notify_one();
}

size_t resident_session::queued() const {
  std::lock_guard<std::mutex> lk(qmu_);
  return queue_.size();
}

void resident_session::worker_loop() {
  for (;;) {
    std::shared_ptr<job> j;
    {
      std::unique_lock<std::mutex> lk(qmu_);
      qcv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      j = std::move(queue_.front());
      queue_.pop_front();
      running_ = j;
    }
    if (!j->cancel.load()) {
      stats_->jobs_running++;
      run(*j);
      stats_->jobs_running--;
    } else {
      std::lock_guard<std::mutex> lk(j->mu);
      j->cancelled = true;
    }
    {
      std::lock_guard<std::mutex> lk(j->mu);
      j->cancelled = j->cancelled || j->cancel.load();
      // The details first, then the counters: a reader that sees the count sees its details.
      if (!j->error.ok()) {
        stats_->jobs_failed++;
      } else if (j->cancelled) {
        stats_->last_cancel_prompt_tokens = j->prompt_tokens;
        stats_->last_cancel_prefill_done = j->prefill_done;
        stats_->last_cancel_generated = static_cast<int64_t>(j->result.tokens.size());
        stats_->jobs_cancelled++;
      }
      stats_->jobs_done++;
      j->done = true;
    }
    j->cv.notify_all();
    std::lock_guard<std::mutex> lk(qmu_);
    running_.reset();
  }
}

// The thread's own stored turns (after the document), when the thread exists; empty otherwise.
status resident_session::run_thread_prefix(job& j, std::vector<int32_t>& tokens) {
  std::lock_guard<std::mutex> lk(lib_->mu);
  auto info = lib_->lib->info(name_);
  if (!info) return info.error_status();
  const store::thread_info* t = nullptr;
  for (const auto& ti : info->threads)
    if (ti.name == j.thread) t = &ti;
  if (!t) {
    tokens = j.tokens;
    return {};
  }
  if (t->base_tokens != context_tokens_)
    return error("thread '" + j.thread + "' branches after " + std::to_string(t->base_tokens) +
                 " tokens, but the resident document has " + std::to_string(context_tokens_) +
                 " (it was read again or appended): use a new thread");
  auto stored = lib_->lib->tokens(name_, j.thread);
  if (!stored) return stored.error_status();
  tokens.assign(stored->begin() + context_tokens_, stored->end());
  tokens.insert(tokens.end(), j.turn_tokens.begin(), j.turn_tokens.end());
  return {};
}

void resident_session::run(job& j) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  {
    std::lock_guard<std::mutex> lk(j.mu);
    j.started = true;
    j.context_tokens = context_tokens_;
  }
  auto finish = [&](status st) {
    std::lock_guard<std::mutex> lk(j.mu);
    if (!st.ok() && j.error.ok()) j.error = st;
  };
  if (!healthy_.load())
    return finish(
        error("session '" + name_ + "' is unavailable (its state could not be restored)"));
  std::vector<int32_t> tokens;
  if (!j.thread.empty()) {
    if (auto st = run_thread_prefix(j, tokens); !st.ok()) return finish(st);
  } else {
    tokens = j.tokens;
  }
  {
    std::lock_guard<std::mutex> lk(j.mu);
    j.prompt_tokens = static_cast<int64_t>(tokens.size());
  }
  if (context_tokens_ + static_cast<int64_t>(tokens.size()) + j.gen.max_tokens >
      model_->config().max_context)
    return finish(error(
        "the document (" + std::to_string(context_tokens_) + " tokens), the request (" +
        std::to_string(tokens.size()) + ") and max_tokens (" + std::to_string(j.gen.max_tokens) +
        ") exceed the model's context of " + std::to_string(model_->config().max_context)));
  status st;
  if (!tokens.empty()) {
    prefill_params pp;
    pp.chunk_tokens = prefill_chunk_;
    pp.cancel = &j.cancel;
    auto pr = s_->prefill(tokens, pp);
    if (!pr)
      st = pr.error_status();
    else {
      std::lock_guard<std::mutex> lk(j.mu);
      j.prefill_done = pr->tokens_done;
      if (pr->cancelled || j.cancel.load()) j.cancelled = true;
    }
  }
  const auto t1 = clock::now();
  bool cancelled = false;
  {
    std::lock_guard<std::mutex> lk(j.mu);
    cancelled = j.cancelled;
    j.prompt_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  }
  if (st.ok() && !cancelled && j.gen.max_tokens > 0) {
    generate_params gp = j.gen;
    gp.cancel = &j.cancel;
    const auto deadline =
        t1 + std::chrono::microseconds(static_cast<int64_t>(j.time_limit_ms * 1000));
    auto on_token = [&](int32_t, std::string_view text) {
      if (j.stream && !text.empty()) {
        {
          std::lock_guard<std::mutex> lk(j.mu);
          j.pending.append(text);
        }
        j.cv.notify_all();
      }
      return j.time_limit_ms <= 0 || clock::now() < deadline;
    };
    auto gen = s_->generate(gp, on_token);
    if (!gen)
      st = gen.error_status();
    else {
      std::lock_guard<std::mutex> lk(j.mu);
      j.result = std::move(*gen);
      if (j.result.reason == stop_reason::cancelled) j.cancelled = true;
      j.predict_ms = std::chrono::duration<double, std::milli>(clock::now() - t1).count();
    }
  }
  if (st.ok() && !j.thread.empty() && !j.cancel.load()) {
    std::lock_guard<std::mutex> lk(lib_->mu);
    bool exists = false;
    if (auto info = lib_->lib->info(name_))
      for (const auto& t : info->threads) exists = exists || t.name == j.thread;
    if (!exists) {
      auto t = lib_->lib->create_thread(name_, j.thread);
      if (!t) st = t.error_status();
    }
    if (st.ok()) st = lib_->lib->save(name_, *s_, j.thread);
  }
  if (auto rw = s_->rewind(mark_); !rw.ok()) {
    if (auto rs = restore(); !rs.ok()) {
      healthy_ = false;
      if (st.ok()) st = rs;
    }
  }
  finish(st);
}

status resident_session::restore() {
  std::lock_guard<std::mutex> lk(lib_->mu);
  auto s = lib_->lib->load(name_, model_);
  if (!s) return s.error_status();
  auto mk = (*s)->mark();
  if (!mk) return mk.error_status();
  s_ = std::move(*s);
  mark_ = *mk;
  return {};
}

}  // namespace tome::server
