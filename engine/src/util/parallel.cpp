// Thread pool behind tome::parallel_for: N-1 workers plus the calling thread.
#include "util/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tome {
namespace {

class pool {
 public:
  explicit pool(int n) : n_(std::max(1, n)) {
    for (int i = 1; i < n_; ++i) workers_.emplace_back([this, i] { loop(i); });
  }
  ~pool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return n_; }

  void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_per) {
    if (t_inside) {  // nested call from a worker: run inline rather than deadlock
      fn(0, n);
      return;
    }
    std::lock_guard<std::mutex> call_lock(call_m_);
    t_inside = true;
    struct reset { ~reset() { t_inside = false; } } reset_inside;
    int64_t parts = std::min<int64_t>(n_, std::max<int64_t>(1, n / std::max<int64_t>(1, min_per)));
    if (parts <= 1) {
      fn(0, n);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      total_ = n;
      parts_ = parts;
      pending_ = static_cast<int>(parts - 1);
      ++generation_;
    }
    cv_.notify_all();
    do_part(0);
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [this] { return pending_ == 0; });
    fn_ = nullptr;
  }

 private:
  static thread_local bool t_inside;
  void do_part(int64_t i) {
    int64_t b = total_ * i / parts_, e = total_ * (i + 1) / parts_;
    if (b < e) (*fn_)(b, e);
  }
  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (index >= parts_) continue;
      }
      t_inside = true;
      do_part(index);
      t_inside = false;
      std::lock_guard<std::mutex> lk(m_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex m_, call_m_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t total_ = 0, parts_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

thread_local bool pool::t_inside = false;

std::mutex g_pool_m;
std::unique_ptr<pool> g_pool;
int g_threads = 0;

pool& get_pool() {
  std::lock_guard<std::mutex> lk(g_pool_m);
  if (!g_pool) {
    int n = g_threads > 0 ? g_threads : static_cast<int>(std::thread::hardware_concurrency());
    g_pool = std::make_unique<pool>(std::max(1, n));
  }
  return *g_pool;
}

}  // namespace

void set_cpu_threads(int n) {
  std::lock_guard<std::mutex> lk(g_pool_m);
  int want = n > 0 ? n : static_cast<int>(std::thread::hardware_concurrency());
  if (g_pool && g_pool->size() == std::max(1, want)) return;
  g_threads = n;
  g_pool.reset();
}

int cpu_threads() { return get_pool().size(); }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                  int64_t min_per_thread) {
  if (n <= 0) return;
  get_pool().run(n, fn, min_per_thread);
}

}  // namespace tome
