// The child process of the session-store crash tests (tests/store/test_store_crash.cpp): each
// mode opens a library and writes to it, so that the parent can kill it with SIGKILL at a random
// moment, or run it under a file-size limit (disk full) or as an unprivileged user (read-only
// folder). Errors are printed on stdout; exit 0 = done, 3 = the store refused, 1 = other failure.
//   store_child prefill DB NAME KIND N CHUNK       checkpointed prefill of N tokens (resumes)
//   store_child save-loop DB NAME KIND N [PAUSE_MS]  save an N-token session again and again
//                                                  (PAUSE_MS: print "saved" after each save, then pause)
//   store_child save DB NAME KIND N [FSIZE_LIMIT] [as-nobody]   one save of N tokens
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "store_test_util.h"
#include "tome/store/library.h"

using namespace tome;

namespace {

int refuse(const std::string& message) {
  std::printf("%s\n", message.c_str());
  std::fflush(stdout);
  return 3;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) return 1;
  const std::string mode = argv[1], db = argv[2], name = argv[3], kind = argv[4];
  const int64_t n = std::stoll(argv[5]);
  auto m = store_test::tiny(kind, 7, 1);
  if (!m) return 1;
  const auto tokens = store_test::random_tokens(static_cast<size_t>(n), 11);
  if (mode == "prefill" && argc >= 7) {
    auto lib = store::library::open(db);
    if (!lib) return refuse(lib.message());
    store::checkpoint_params p;
    p.chunk_tokens = std::stoll(argv[6]);
    p.compute_logits = false;
    auto r = (*lib)->prefill(name, m, tokens, p);
    return r ? 0 : refuse(r.message());
  }
  auto s = session::create(m);
  if (!s || !(*s)->prefill(tokens).ok()) return 1;
  if (mode == "save-loop") {
    const long pause_ms = argc >= 7 ? std::stol(argv[6]) : 0;
    auto lib = store::library::open(db);
    if (!lib) return refuse(lib.message());
    store::session_spec spec;
    spec.name = name;
    spec.row_tokens = 40;
    for (int i = 0; i < 100000; ++i) {
      (void)(*lib)->remove_session(name);
      if (auto c = (*lib)->create_session(*m, spec); !c) return refuse(c.message());
      if (auto st = (*lib)->save(name, **s); !st.ok()) return refuse(st.message());
      if (pause_ms > 0) {  // the save is committed: say so, and give the parent time to kill here
        std::printf("saved\n");
        std::fflush(stdout);
        ::usleep(static_cast<useconds_t>(pause_ms) * 1000);
      }
    }
    return 0;
  }
  if (mode == "save") {
    if (argc >= 7 && std::stoll(argv[6]) > 0) {
      ::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG, as on a full disk
      rlimit rl{};
      rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(std::stoll(argv[6]));
      if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) return 1;
    }
    if (argc >= 8 && std::string(argv[7]) == "as-nobody" && ::geteuid() == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 1;  // root ignores permissions
    }
    auto lib = store::library::open(db);
    if (!lib) return refuse(lib.message());
    auto st = (*lib)->save(name, **s);
    return st.ok() ? 0 : refuse(st.message());
  }
  return 1;
}
