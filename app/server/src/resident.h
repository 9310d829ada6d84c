// A resident session of `tome serve`: one session loaded once from the library, a mark at the
// document's end, and one worker thread that runs queued jobs against it one at a time (prefill
// the request's tokens after the mark, generate, rewind to the mark). The document's global KV
// stays resident and is never re-read. Jobs come from HTTP threads; results and streamed text go
// back through the job (mutex + condition variable). Internal to app/server.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "stats.h"
#include "tome/engine.h"
#include "tome/store/library.h"

namespace tome::server {

// The shared library handle (one SQLite connection for all workers, behind a mutex).
struct shared_library {
  std::mutex mu;
  std::unique_ptr<store::library> lib;
};

// One request's work and its outcome. Written by the HTTP thread before it is queued (inputs),
// by the worker after (outputs, under mu); `cancel` by either at any time.
struct job {
  // inputs
  std::vector<int32_t> tokens;       // prefilled after the document mark (no thread, or a new one)
  std::vector<int32_t> turn_tokens;  // prefilled after the thread's stored turns (thread exists)
  std::string thread;                // non-empty: continue/create this thread and save it
  generate_params gen;               // gen.cancel is set to &cancel by the worker
  bool stream = false;               // deliver text pieces as they come
  double time_limit_ms = 0;          // > 0: stop generating after this long
  std::atomic<bool> cancel{false};

  // outputs (under mu)
  std::mutex mu;
  std::condition_variable cv;
  std::string pending;  // streamed text not yet taken by the HTTP thread
  bool started = false, done = false;
  status error;  // a failure of the engine or the store
  generate_result result;
  bool cancelled = false;
  int64_t prompt_tokens = 0;   // tokens prefilled after the document (thread turns included)
  int64_t prefill_done = 0;    // of prompt_tokens, when cancelled
  int64_t context_tokens = 0;  // document tokens
  double prompt_ms = 0, predict_ms = 0;
  double queued_ms = 0;
};

class resident_session {
 public:
  // Loads `name` from the library onto m's backend and marks the document's end.
  static result<std::unique_ptr<resident_session>> load(
      std::shared_ptr<shared_library> lib, std::shared_ptr<const model> m, const std::string& name,
      int64_t prefill_chunk, std::shared_ptr<server_stats_counters> stats);
  ~resident_session();  // cancels the running job, drops the queue, joins the worker

  const std::string& name() const { return name_; }
  int64_t context_tokens() const { return context_tokens_; }
  bool healthy() const { return healthy_.load(); }
  // Queues a job (FIFO); a job cancelled before it starts is skipped.
  void submit(std::shared_ptr<job> j);
  size_t queued() const;

 private:
  resident_session() = default;
  void worker_loop();
  void run(job& j);
  status run_thread_prefix(job& j, std::vector<int32_t>& tokens);
  status restore();

  std::string name_;
  std::shared_ptr<shared_library> lib_;
  std::shared_ptr<const model> model_;
  std::unique_ptr<session> s_;
  session_mark mark_;
  int64_t context_tokens_ = 0;
  int64_t prefill_chunk_ = 1024;
  std::shared_ptr<server_stats_counters> stats_;
  std::atomic<bool> healthy_{true};

  mutable std::mutex qmu_;
  std::condition_variable qcv_;
  std::deque<std::shared_ptr<job>> queue_;
  std::shared_ptr<job> running_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace tome::server
