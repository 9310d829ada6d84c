// Background WAL checkpoints of a library file. A commit is durable once its WAL frames are synced
// (synchronous=FULL); copying them into the database file (the checkpoint) is the second write of
// every byte. After a commit that leaves a large WAL, the library asks this object to do that
// copy on its own thread, with its own short-lived SQLite connection (PASSIVE: it never blocks
// the writer or readers), so the save returns after the one durable write. Not for read-only
// libraries. The owner thread calls request() and wait_idle(); the destructor waits for a run.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

namespace tome::store {

class wal_checkpointer {
 public:
  explicit wal_checkpointer(std::filesystem::path file) : file_(std::move(file)) {}
  ~wal_checkpointer();
  wal_checkpointer(const wal_checkpointer&) = delete;
  wal_checkpointer& operator=(const wal_checkpointer&) = delete;

  // Starts a checkpoint soon (the thread starts on the first request); one pending at most.
  void request();
  // Returns when no checkpoint is pending or running.
  void wait_idle();

 private:
  void loop();
  void run_once();
  std::filesystem::path file_;
  std::thread thread_;
  std::mutex m_;
  std::condition_variable cv_, idle_cv_;
  bool pending_ = false, running_ = false, stop_ = false;
};

}  // namespace tome::store
