// Fuzz target: the session store's reader of untrusted files (.tome exports, libraries) and the
// engine's snapshot reader, on fuzz_common.h's small model. The bytes are written to a file, then
// opened read-only, listed, verified, loaded and imported into a scratch library; and given to
// session::deserialize. No crash, no exception, errors name the file; a session that verifies
// must load, and an import that succeeds must verify again.
// Seeds (tests/fuzz/corpus/tome/): run once with TOME_FUZZ_WRITE_SEEDS=<dir> set; the target
// writes valid .tome files (f32, fp8 + zstd, with a thread) and a snapshot there and exits.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "fuzz_common.h"
#include "tome/store/library.h"

namespace {

using namespace tome;

std::shared_ptr<const model> small_model() {
  static const std::shared_ptr<const model> m = [] {
    auto r = model::create_random(fuzz::small_config(), 1, {backend_kind::cpu, 0});
    if (!r) fuzz::fail("small model", r.message());
    return std::shared_ptr<const model>(*r);
  }();
  return m;
}

void write_seeds(const std::filesystem::path& dir) {
  auto m = small_model();
  std::filesystem::create_directories(dir);
  const auto lib_path = dir / "seed-library.db";
  std::filesystem::remove(lib_path);
  store::open_params op;
  op.page_size = 512;
  auto lib = store::library::open(lib_path, op);
  if (!lib) fuzz::fail("seed library", lib.message());
  const std::vector<int32_t> toks = {1, 3, 5, 7, 2, 4, 6, 0, 1, 1, 3, 3, 5, 5, 7, 7, 2, 6, 4, 0};
  for (auto [name, st, comp] :
       {std::tuple{"plain", store::kv_storage::f32, store::compression::none},
        std::tuple{"small", store::kv_storage::fp8_e4m3, store::compression::zstd}}) {
    if (!(*lib)->create_session(*m, {name, st, comp, 8}).ok()) fuzz::fail("seed session");
    if (!(*lib)->prefill(name, m, toks).ok()) fuzz::fail("seed prefill");
    (void)(*lib)->add_document(name,
                               {"doc", "/doc.txt", "text", "h", 0, 20, R"({"l":[1]})", "{}", ""});
    if (!(*lib)->create_thread(name, "t").ok()) fuzz::fail("seed thread");
    auto s = (*lib)->load(name, m, "t");
    if (!s || !(*s)->prefill(std::vector<int32_t>{2, 2, 2}).ok()) fuzz::fail("seed thread prefill");
    if (!(*lib)->save(name, **s, "t").ok()) fuzz::fail("seed thread save");
    const auto out = dir / (std::string(name) + ".tome");
    std::filesystem::remove(out);
    if (auto e = (*lib)->export_session(name, out, 512); !e.ok())
      fuzz::fail("seed export", e.message());
    if (std::string(name) == "plain") {
      const auto bytes = (*s)->serialize();
      std::ofstream(dir / "thread.snapshot", std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
    }
  }
  lib->reset();
  for (const char* suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(lib_path.string() + suffix);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (const char* seeds = std::getenv("TOME_FUZZ_WRITE_SEEDS")) {
    write_seeds(seeds);
    std::exit(0);
  }
  auto m = small_model();
  // The snapshot reader.
  auto snap = session::deserialize(m, std::span<const uint8_t>(data, size));
  if (snap && (*snap)->n_tokens() > m->config().max_context)
    fuzz::fail("snapshot past max_context");

  // The .tome reader: a file in the working directory (one per process, removed at exit).
  static const std::string path = "fuzz-input-" + std::to_string(::getpid()) + ".tome";
  static const std::string scratch = "fuzz-scratch-" + std::to_string(::getpid()) + ".db";
  static const bool cleanup = [] {
    std::atexit([] {
      for (const std::string& p : {scratch, scratch + "-wal", scratch + "-shm"})
        std::remove(p.c_str());
    });
    return true;
  }();
  (void)cleanup;
  for (const std::string& p : {path, path + "-journal", path + "-wal", path + "-shm"})
    std::remove(p.c_str());
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  store::open_params ro;
  ro.read_only = true;
  auto lib = store::library::open(path, ro);
  if (!lib) {
    if (lib.message().find(path) == std::string::npos)
      fuzz::fail("message without file name", lib.message());
  } else {
    auto list = (*lib)->sessions();
    if (list) {
      for (const auto& s : *list) {
        const status v = (*lib)->verify(s.name, *m);
        auto loaded = (*lib)->load(s.name, m);
        if (v.ok() && !loaded) fuzz::fail("verified but did not load", loaded.message());
        for (const auto& t : s.threads) (void)(*lib)->load(s.name, m, t.name);
        if (loaded && (*loaded)->n_tokens() > 0) (void)(*loaded)->logits();
      }
    }
    lib->reset();
    static auto target = store::library::open(scratch);
    if (!target) fuzz::fail("scratch library", target.message());
    auto imported = (*target)->import_session(path, *m, "imported");
    if (imported) {
      if (!(*target)->verify("imported", *m).ok()) fuzz::fail("imported but does not verify");
      if (!(*target)->load("imported", m)) fuzz::fail("imported but does not load");
      if (!(*target)->remove_session("imported").ok()) fuzz::fail("remove");
    }
  }
  for (const std::string& p : {path, path + "-journal", path + "-wal", path + "-shm"})
    std::remove(p.c_str());
  return 0;
}
