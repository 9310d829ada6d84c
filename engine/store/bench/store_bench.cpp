// tome_store_bench: saves and loads a session holding N GiB of global KV (f32 in memory) through
// the session store, and prints GB/s. The session is built from random parts (no prefill), on a
// random model shaped for it (kv_dim 1024, like YOCO-3B's 8 KV heads x 128). A "cold" load first
// asks the kernel to drop the file's cached pages (posix_fadvise DONTNEED).
//   tome_store_bench [--dir DIR] [--gib 1] [--storage f32|bf16|fp8] [--compression none|zstd]
//                    [--row-tokens 512] [--saves 1] [--no-load] [--keep]
// --saves N saves the same KV N times (into sessions of their own, each after the previous one's
// checkpoint); --no-load skips the loads. Each save also prints the CPU time of the saving thread
// (SQLite's writer) and of the whole process, and how many WAL frames SQLite rewrote in place.
// scripts/bench_store.sh runs it with dd's sequential speeds of the same folder beside it.
//   tome_store_bench --restore --config yoco-3b --backend cuda --tokens 131072 [--storage bf16]
// Restore against prefill: prefills N random tokens on a random model of a built-in config
// through the store (checkpointed, as `tome ingest` does), then restores the session onto the
// same backend from the file (cold: cached pages dropped), and prints both times and their ratio.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "tome/session_parts.h"
#include "tome/store/library.h"
#include "writeback_vfs.h"  // the store's own src/: the shim's counters

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// CPU seconds (user + system) of the calling thread and of the whole process: the save's
// SQLite work runs on the calling thread, so its CPU time says what that thread did even when
// other processes share the cores (wall times then vary).
double cpu_seconds(int who) {
  rusage u{};
  ::getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void drop_cache(const std::filesystem::path& p) {
  for (const char* suffix : {"", "-wal"}) {
    std::filesystem::path x = p;
    x += suffix;
    const int fd = ::open(x.c_str(), O_RDONLY);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

int64_t file_bytes(const std::filesystem::path& p) {
  std::error_code ec;
  int64_t n = 0;
  for (const char* suffix : {"", "-wal"}) {
    std::filesystem::path x = p;
    x += suffix;
    const auto s = std::filesystem::file_size(x, ec);
    if (!ec) n += static_cast<int64_t>(s);
  }
  return n;
}

int restore_vs_prefill(const std::filesystem::path& dir, const std::string& config,
                       const std::string& backend, int64_t n, const std::string& storage) {
  auto c = tome::builtin_config(config);
  if (!c) {
    std::fprintf(stderr, "%s\n", c.message().c_str());
    return 1;
  }
  tome::load_params lp;
  lp.backend = backend == "cuda" ? tome::backend_kind::cuda : tome::backend_kind::cpu;
  auto t0 = clock_type::now();
  auto m = tome::model::create_random(*c, 1, lp);
  if (!m) {
    std::fprintf(stderr, "%s\n", m.message().c_str());
    return 1;
  }
  std::shared_ptr<const tome::model> mc = *m;
  std::printf("model %s (%.2fB parameters) on %s, made in %.1f s\n", config.c_str(),
              (*m)->n_parameters() / 1e9, (*m)->backend_description().c_str(), since(t0));
  const auto file = dir / "tome-restore-bench.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file.string() + suffix);
  auto lib = tome::store::library::open(file);
  if (!lib) {
    std::fprintf(stderr, "%s\n", lib.message().c_str());
    return 1;
  }
  tome::store::session_spec spec;
  spec.name = "bench";
  spec.storage = *tome::store::parse_kv_storage(storage);
  if (auto r = (*lib)->create_session(**m, spec); !r) {
    std::fprintf(stderr, "%s\n", r.message().c_str());
    return 1;
  }
  std::vector<int32_t> toks(static_cast<size_t>(n));
  std::mt19937 rng(2);
  for (auto& t : toks) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(c->vocab_size));
  {  // warm-up: kernels, cuBLAS handles, allocator
    auto w = tome::session::create(mc);
    tome::prefill_params pp;
    pp.compute_logits = false;
    if (!w || !(*w)->prefill(std::span(toks).first(std::min<size_t>(4096, toks.size())), pp)) return 1;
  }
  tome::store::checkpoint_params cp;
  cp.compute_logits = false;
  t0 = clock_type::now();
  auto r = (*lib)->prefill("bench", mc, toks, cp);
  const double prefill_s = since(t0);
  double bare_s = 0;
  if (!r) {
    std::fprintf(stderr, "%s\n", r.message().c_str());
    return 1;
  }
  r->s.reset();
  std::printf("prefill %lld tokens through the store (%lld checkpoints, KV stored as %s): %.2f s = %.0f tokens/s; file %.2f GiB\n",
              static_cast<long long>(n), static_cast<long long>(r->checkpoints), storage.c_str(), prefill_s,
              n / prefill_s, file_bytes(file) / double(1 << 30));
  t0 = clock_type::now();
  if (auto st = (*lib)->checkpoint(); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  std::printf("the last checkpoints' WAL copied into the database file (background, waited for): %.2f s more\n",
              since(t0));
  {  // the same prefill without the store (no checkpoints), for the second ratio
    auto bare = tome::session::create(mc);
    tome::prefill_params pp;
    pp.compute_logits = false;
    t0 = clock_type::now();
    if (!bare || !(*bare)->prefill(toks, pp)) return 1;
    bare_s = since(t0);
  }
  std::printf("the same prefill without the store (no checkpoints): %.2f s = %.0f tokens/s\n", bare_s, n / bare_s);
  // Cold: every connection closed first (SQLite maps the file; mapped pages are not dropped),
  // then the file's cached pages dropped. Warm: the same again with the pages still cached.
  lib->reset();
  drop_cache(file);
  lib = tome::store::library::open(file);
  if (!lib) {
    std::fprintf(stderr, "%s\n", lib.message().c_str());
    return 1;
  }
  double restore_s[2] = {0, 0};
  for (int pass = 0; pass < 2; ++pass) {
    t0 = clock_type::now();
    auto back = (*lib)->load("bench", mc);
    if (!back) {
      std::fprintf(stderr, "%s\n", back.message().c_str());
      return 1;
    }
    auto lg = (*back)->logits();  // the first answer needs the logits: part of the restore
    if (!lg) {
      std::fprintf(stderr, "%s\n", lg.message().c_str());
      return 1;
    }
    restore_s[pass] = since(t0);
    std::printf("restore from the file (%s) onto %s, with the first logits: %.2f s = %.2f GB/s of stored KV\n",
                pass == 0 ? "cold: pages dropped" : "warm: pages cached", backend.c_str(), restore_s[pass],
                file_bytes(file) / 1e9 / restore_s[pass]);
  }
  std::printf("restore is %.1fx (cold) / %.1fx (warm) faster than prefilling again through the store, "
              "%.1fx / %.1fx than the bare prefill\n",
              prefill_s / restore_s[0], prefill_s / restore_s[1], bare_s / restore_s[0], bare_s / restore_s[1]);
  lib->reset();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file.string() + suffix);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = "/tmp";
  double gib = 1.0;
  std::string storage = "f32", comp = "none";
  int64_t row_tokens = tome::store::k_default_row_tokens;
  bool keep = false, restore = false, load = true;
  int saves = 1;
  std::string config = "yoco-3b", backend = "cuda";
  int64_t tokens = 131072;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--dir")
      dir = next();
    else if (a == "--gib")
      gib = std::stod(next());
    else if (a == "--storage")
      storage = next();
    else if (a == "--compression")
      comp = next();
    else if (a == "--row-tokens")
      row_tokens = std::stoll(next());
    else if (a == "--keep")
      keep = true;
    else if (a == "--saves")
      saves = std::max(1, std::stoi(next()));
    else if (a == "--no-load")
      load = false;
    else if (a == "--restore")
      restore = true;
    else if (a == "--config")
      config = next();
    else if (a == "--backend")
      backend = next();
    else if (a == "--tokens")
      tokens = std::stoll(next());
    else {
      std::fprintf(
          stderr,
          "usage: %s [--dir DIR] [--gib N] [--storage f32|bf16|fp8] "
          "[--compression none|zstd] [--row-tokens N] [--saves N] [--no-load] [--keep]\n"
          "       %s --restore [--config NAME] [--backend cpu|cuda] [--tokens N] [--storage S]\n",
          argv[0], argv[0]);
      return 2;
    }
  }
  if (restore) return restore_vs_prefill(dir, config, backend, tokens, storage);
  tome::model_config c;
  c.name = "store-bench";
  c.dim = 1024;
  c.n_self_layers = 1;
  c.n_cross_layers = 1;
  c.n_self_heads = 8;
  c.n_heads = 8;
  c.n_kv_heads = 8;
  c.ffn_dim = 64;
  c.vocab_size = 256;
  c.max_context = int64_t{1} << 22;
  c.special_tokens["eos"] = {2, "</s>"};
  auto m = tome::model::create_random(c, 1);
  if (!m) {
    std::fprintf(stderr, "%s\n", m.message().c_str());
    return 1;
  }
  const int64_t kvd = c.kv_dim();
  const int64_t n = static_cast<int64_t>(gib * (1 << 30) / (8.0 * kvd));
  const double raw = static_cast<double>(n) * kvd * 8;
  tome::session_parts p;
  p.fingerprint = (*m)->fingerprint();
  p.kv_precision = tome::kv_precision(**m);
  p.self_kind = c.self_kind;
  p.n_tokens = n;
  p.n_self_layers = c.n_self_layers;
  p.self_layer_floats = tome::self_layer_floats_for(c, n);
  p.dim = c.dim;
  p.kv_dim = kvd;
  p.kv_end = n;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  p.tokens.resize(static_cast<size_t>(n));
  for (auto& t : p.tokens) t = static_cast<int32_t>(rng() % 256);
  p.self_state.assign(1, std::vector<float>(static_cast<size_t>(p.self_layer_floats)));
  for (auto& x : p.self_state[0]) x = nd(rng);
  p.last_hidden.assign(static_cast<size_t>(c.dim), 0.5f);
  p.k.resize(static_cast<size_t>(n * kvd));
  p.v.resize(p.k.size());
  // Incompressible values (xorshift bits as floats in [-2, 2)), like a real KV to zstd.
  uint64_t x = 88172645463325252ull;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return static_cast<float>(static_cast<int32_t>(x >> 32)) * (2.0f / 2147483648.0f);
  };
  for (size_t i = 0; i < p.k.size(); ++i) {
    p.k[i] = next();
    p.v[i] = next();
  }
  auto s = tome::session_from_parts(*m, std::move(p));
  if (!s) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    return 1;
  }
  const auto file = dir / "tome-store-bench.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file.string() + suffix);
  auto lib = tome::store::library::open(file);
  if (!lib) {
    std::fprintf(stderr, "%s\n", lib.message().c_str());
    return 1;
  }
  tome::store::session_spec spec;
  spec.name = "bench";
  spec.storage = *tome::store::parse_kv_storage(storage);
  spec.comp = *tome::store::parse_compression(comp);
  spec.row_tokens = row_tokens;
  if (auto r = (*lib)->create_session(**m, spec); !r) {
    std::fprintf(stderr, "%s\n", r.message().c_str());
    return 1;
  }
  std::printf(
      "session: %lld tokens x kv_dim %lld = %.3f GiB of f32 K+V; storage %s, compression %s, "
      "rows of %lld tokens; %s\n",
      static_cast<long long>(n), static_cast<long long>(kvd), raw / (1 << 30), storage.c_str(),
      comp.c_str(), static_cast<long long>(row_tokens), file.c_str());
  auto knob = [](const char* name) {
    const char* v = std::getenv(name);
    return v && std::strcmp(v, "0") == 0 ? "off" : "on";
  };
  std::printf("WAL shim (TOME_STORE_WRITEBACK): %s; write-behind (TOME_STORE_WRITEBEHIND): %s\n",
              knob("TOME_STORE_WRITEBACK"),
              std::strcmp(knob("TOME_STORE_WRITEBACK"), "off") == 0
                  ? "off"
                  : knob("TOME_STORE_WRITEBEHIND"));
  // Each save goes into a session of its own ("bench", "bench-2", ...), after the previous one's
  // checkpoint: every round writes the whole KV into a fresh WAL, as the first does.
  for (int round = 0; round < saves; ++round) {
    const std::string name = round == 0 ? "bench" : "bench-" + std::to_string(round + 1);
    if (round > 0) {
      tome::store::session_spec more = spec;
      more.name = name;
      if (auto r = (*lib)->create_session(**m, more); !r) {
        std::fprintf(stderr, "%s\n", r.message().c_str());
        return 1;
      }
    }
    auto t0 = clock_type::now();
    const double thread_cpu0 = cpu_seconds(RUSAGE_THREAD), cpu0 = cpu_seconds(RUSAGE_SELF);
    const unsigned long long rewrites0 = tome::store::writeback_vfs_wal_rewrites();
    if (auto st = (*lib)->save(name, **s); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      return 1;
    }
    const double save_s = since(t0);
    const double thread_cpu = cpu_seconds(RUSAGE_THREAD) - thread_cpu0;
    const double cpu = cpu_seconds(RUSAGE_SELF) - cpu0;
    std::printf(
        "save (one transaction, synchronous=FULL: durable in the WAL at commit): %.3f s = %.2f "
        "GB/s "
        "of KV (%.3f GiB written); CPU: %.3f s on the saving thread, %.3f s in all threads\n",
        save_s, raw / save_s / 1e9, file_bytes(file) / double(1 << 30), thread_cpu, cpu);
    // Frames SQLite rewrote in place (a spilled page changed again): each makes the commit re-read
    // and re-checksum every frame after it. 0 is what the save's order of writes aims for.
    std::printf("WAL frames rewritten in place during the save: %llu\n",
                tome::store::writeback_vfs_wal_rewrites() - rewrites0);
    // The second copy (WAL -> database file) runs in the background after a large commit; wait
    // for it and finish it here, timed apart, so that the loads below read the database file.
    t0 = clock_type::now();
    if (auto st = (*lib)->checkpoint(); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      return 1;
    }
    const double ckpt_s = since(t0);
    std::printf(
        "checkpoint (WAL copied into the database file, in the background after the commit; "
        "waited for here): %.3f s more; save + checkpoint %.3f s = %.2f GB/s\n",
        ckpt_s, save_s + ckpt_s, raw / (save_s + ckpt_s) / 1e9);
  }
  if (!load) {
    lib->reset();
    if (!keep)
      for (const char* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(file.string() + suffix);
    return 0;
  }
  s->reset();
  for (int cold = 0; cold < 2; ++cold) {
    if (cold) drop_cache(file);
    auto t0 = clock_type::now();
    auto back = (*lib)->load("bench", *m);
    const double load_s = since(t0);
    if (!back) {
      std::fprintf(stderr, "%s\n", back.message().c_str());
      return 1;
    }
    std::printf("load %s (checksums, decode, onto the CPU backend): %.3f s = %.2f GB/s of KV\n",
                cold ? "cold (file pages dropped)" : "warm (page cache)", load_s,
                raw / load_s / 1e9);
  }
  lib->reset();
  if (!keep)
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file.string() + suffix);
  return 0;
}
