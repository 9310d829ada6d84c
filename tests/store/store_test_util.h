// Shared by the session-store tests and their child helper: the random built-in models, token
// lists, a scratch folder per test, and running the helper as a child process (fork + exec, so
// the child starts its own thread pool) that the test may kill with SIGKILL.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tome/engine.h"

namespace tome::store_test {

inline std::shared_ptr<model> tiny(const std::string& name, uint64_t seed = 7, int threads = 0) {
  auto c = builtin_config(name);
  if (!c) return nullptr;
  load_params p;
  p.n_threads = threads;
  p.backend = backend_kind::cpu;  // the store's tests run on the CPU reference, GPU or not
  auto m = model::create_random(*c, seed, p);
  return m ? *m : nullptr;
}

inline std::vector<int32_t> random_tokens(size_t n, uint32_t seed, int32_t vocab = 512) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, vocab - 1);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = d(rng);
  return t;
}

// A child process running argv; kill() sends SIGKILL; wait() returns the exit status.
class child {
 public:
  explicit child(const std::vector<std::string>& argv, int* out_fd = nullptr) {
    int fds[2] = {-1, -1};
    if (out_fd && ::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      if (out_fd) {
        ::dup2(fds[1], 1);
        ::close(fds[0]);
        ::close(fds[1]);
      }
      std::vector<char*> a;
      for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
      a.push_back(nullptr);
      ::execv(a[0], a.data());
      ::_exit(127);
    }
    if (out_fd) {
      ::close(fds[1]);
      *out_fd = fds[0];
    }
  }
  bool started() const { return pid_ > 0; }
  void kill() { ::kill(pid_, SIGKILL); }
  // Waits; returns true when it exited by itself (exit code in *code), false when killed.
  bool wait(int* code = nullptr) {
    int st = 0;
    ::waitpid(pid_, &st, 0);
    if (code) *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return WIFEXITED(st);
  }
  // True if it is still running after `seconds`.
  bool running_after(double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        status_ = st;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
  }
  bool exited() const { return exited_; }
  int exit_code() const { return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1; }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

inline std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace tome::store_test
