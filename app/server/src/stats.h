// Counters of `tome serve` shared by the HTTP threads and the session workers (atomics), read as
// a tome::server::server_stats snapshot. Internal to app/server.
#pragma once

#include <atomic>
#include <cstdint>

#include "tome/server/server.h"

namespace tome::server {

struct server_stats_counters {
  std::atomic<int64_t> requests{0};
  std::atomic<int64_t> rejected{0};
  std::atomic<int64_t> jobs_done{0};
  std::atomic<int64_t> jobs_cancelled{0};
  std::atomic<int64_t> jobs_failed{0};
  std::atomic<int64_t> jobs_running{0};
  std::atomic<int64_t> last_cancel_prompt_tokens{0};
  std::atomic<int64_t> last_cancel_prefill_done{0};
  std::atomic<int64_t> last_cancel_generated{0};

  server_stats snapshot() const {
    server_stats s;
    s.requests = requests.load();
    s.rejected = rejected.load();
    s.jobs_done = jobs_done.load();
    s.jobs_cancelled = jobs_cancelled.load();
    s.jobs_failed = jobs_failed.load();
    s.jobs_running = jobs_running.load();
    s.last_cancel_prompt_tokens = last_cancel_prompt_tokens.load();
    s.last_cancel_prefill_done = last_cancel_prefill_done.load();
    s.last_cancel_generated = last_cancel_generated.load();
    return s;
  }
};

}  // namespace tome::server
