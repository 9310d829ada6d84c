// `tome bench`: prefill and decode speed at several context lengths, with the memory breakdown,
// on a model directory or a built-in configuration with random weights. A benchmark, not a test:
// figures go to docs/performance.md with the command, machine and date.
#include <chrono>
#include <cstdio>
#include <random>
#include <sstream>

#include "cli_common.h"

namespace tome::cli {
namespace {

struct bench_options {
  std::string model_dir, config_name;
  bool random_weights = false;
  std::vector<int64_t> lengths{1024, 8192, 32768};
  int decode_tokens = 32;
  int64_t chunk = 32768;
  uint64_t seed = 1;
  backend_options be;
};

int run(const bench_options& o) {
  auto params = o.be.params();
  result<std::shared_ptr<model>> m = error("no model");
  if (!o.model_dir.empty()) {
    m = model::load(o.model_dir, *params);
  } else {
    auto c = builtin_config(o.config_name);
    if (!c) {
      std::fprintf(stderr, "tome: %s\n", c.message().c_str());
      return 1;
    }
    m = model::create_random(*c, o.seed, *params);
  }
  if (!m) {
    std::fprintf(stderr, "tome: %s\n", m.message().c_str());
    return 1;
  }
  const model& md = **m;
  const model_config& c = md.config();
  std::printf("model %s: %.2fM parameters, %s, %lld+%lld layers, dim %lld | backend %s\n",
              c.name.c_str(), md.n_parameters() / 1e6, to_string(c.self_kind),
              static_cast<long long>(c.n_self_layers), static_cast<long long>(c.n_cross_layers),
              static_cast<long long>(c.dim), md.backend_description().c_str());
  std::printf("weights in memory: %s\n\n", human_bytes(md.memory().weights).c_str());
  std::printf("| context | prefill tokens/s | prefill s | decode tokens/s | global KV | self state | workspace (plan) | free |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::mt19937 rng(static_cast<uint32_t>(o.seed));
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(c.vocab_size - 1));
  {  // warm-up: threads, BLAS buffers, page faults of the weights
    auto s = session::create(*m);
    std::vector<int32_t> w(256);
    for (auto& t : w) t = tok(rng);
    (void)(*s)->prefill(w);
    (void)(*s)->decode(w[0]);
  }
  for (int64_t len : o.lengths) {
    const memory_plan plan = md.plan_memory(len, o.chunk);
    if (!plan.fits()) {
      std::printf("| %lld | not run: %s |\n", static_cast<long long>(len), plan.describe().c_str());
      continue;
    }
    auto s = session::create(*m);
    if (!s) {
      std::fprintf(stderr, "tome: %s\n", s.message().c_str());
      return 1;
    }
    std::vector<int32_t> tokens(static_cast<size_t>(len));
    for (auto& t : tokens) t = tok(rng);
    prefill_params pp;
    pp.chunk_tokens = o.chunk;
    auto pr = (*s)->prefill(tokens, pp);
    if (!pr) {
      std::fprintf(stderr, "tome: %s\n", pr.message().c_str());
      return 1;
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < o.decode_tokens; ++i) {
      auto lg = (*s)->decode(tok(rng));
      if (!lg) {
        std::fprintf(stderr, "tome: %s\n", lg.message().c_str());
        return 1;
      }
    }
    const double dsec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const memory_breakdown mem = (*s)->memory();
    std::printf("| %lld | %.0f | %.2f | %.1f | %s | %s | %s | %s |\n", static_cast<long long>(len),
                len / pr->seconds, pr->seconds, o.decode_tokens / dsec, human_bytes(mem.global_kv).c_str(),
                human_bytes(mem.self_state).c_str(), human_bytes(plan.need.workspace).c_str(),
                plan.available >= 0 ? human_bytes(plan.available).c_str() : "?");
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

void register_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure prefill and decode speed and memory");
  auto o = std::make_shared<bench_options>();
  auto* md = cmd->add_option("--model,-m", o->model_dir, "model directory");
  auto* cf = cmd->add_option("--config", o->config_name,
                             "built-in configuration (tiny, tiny-swa, tome-25m, tome-25m-swa, yoco-3b)");
  auto* rw = cmd->add_flag("--random-weights", o->random_weights, "random weights (with --config)");
  md->excludes(cf);
  cf->needs(rw);
  cmd->add_option("--lengths", o->lengths, "context lengths (tokens)")->delimiter(',')->capture_default_str();
  cmd->add_option("--decode-tokens", o->decode_tokens, "decode steps timed per length")->capture_default_str();
  cmd->add_option("--chunk", o->chunk, "prefill chunk (tokens)")->capture_default_str();
  cmd->add_option("--seed", o->seed)->capture_default_str();
  o->be.add(*cmd);
  cmd->callback([o] {
    if (o->model_dir.empty() && o->config_name.empty()) throw CLI::ValidationError("bench", "give --model DIR or --config NAME --random-weights");
    const int rc = run(*o);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tome::cli
