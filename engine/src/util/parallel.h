// A small persistent thread pool for the CPU backend's own loops (BLAS has its own threads).
// parallel_for(n, fn) runs fn(begin, end) over [0, n) split into contiguous ranges, one per
// worker, and returns when all are done. Calls from several threads are serialised.
#pragma once

#include <cstdint>
#include <functional>

namespace tome {

void set_cpu_threads(int n);  // 0 = hardware concurrency
int cpu_threads();
void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn,
                  int64_t min_per_thread = 1);

}  // namespace tome
