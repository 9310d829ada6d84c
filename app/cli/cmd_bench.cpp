// `tome bench`: prefill and decode speed at several context lengths, with the memory breakdown,
// on a model directory or a built-in configuration with random weights. A benchmark, not a test:
// figures go to docs/performance.md with the command, machine and date. "of floor" columns: the
// fraction of the cost model's roofline floor (ANCHORS.md; H100 figures) reached.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <sstream>

#include "cli_common.h"

namespace tome::cli {
namespace {

struct bench_options {
  std::string model_dir, config_name;
  bool random_weights = false;
  std::vector<std::string> lengths{"1024", "8192", "32768"};
  int decode_tokens = 32;
  std::vector<int> batches;  // --batch: batched decode (session::decode_batch) at these batch sizes
  int64_t chunk = 32768;
  uint64_t seed = 1;
  bool sampled = false;  // --sampled: also time session::generate with top-k sampling
  backend_options be;
};

// "32768", "32k" (x1024), "1m" (x1048576).
result<int64_t> parse_length(const std::string& text) {
  std::string t = text;
  int64_t mult = 1;
  if (!t.empty() && (t.back() == 'k' || t.back() == 'K')) mult = 1024, t.pop_back();
  else if (!t.empty() && (t.back() == 'm' || t.back() == 'M')) mult = 1024 * 1024, t.pop_back();
  char* end = nullptr;
  const long long v = t.empty() ? 0 : std::strtoll(t.c_str(), &end, 10);
  if (t.empty() || *end != '\0' || v <= 0 || v > (int64_t{1} << 40) / mult)
    return error("--lengths: '" + text + "' is not a length (e.g. 4096, 32k, 1m)");
  return static_cast<int64_t>(v) * mult;
}

// --sampled: session::generate for `steps` tokens from the session's current position, five
// ways, each from the same mark (so each sees the same context). Top-k sampling: the
// pre-selection on the device (the CUDA default), on the host (TOME_GPU_PRESELECT=0), and
// sampling on the full logits (preselect_k 0); greedy (tome ask's default): the pre-selection
// (one candidate) and the full logits. Returns the row's five tokens/s cells.
result<std::string> time_sampled(session& s, int steps, int64_t max_context) {
  const int64_t room = max_context - s.n_tokens();
  steps = static_cast<int>(std::min<int64_t>(steps, room));
  if (steps < 1) return std::string("- | - | - | - | -");
  auto mk = s.mark();
  if (!mk) return mk.error_status();
  const char* old_env = std::getenv("TOME_GPU_PRESELECT");
  const std::string saved = old_env ? old_env : "";
  std::string cells;
  for (int variant = 0; variant < 5; ++variant) {
    TOME_TRY(s.rewind(*mk));
    if (variant == 1) ::setenv("TOME_GPU_PRESELECT", "0", 1);
    generate_params p;
    p.max_tokens = steps;
    p.stop_at_eos = false;
    if (variant < 3) {
      p.sampling.temperature = 0.8f;
      p.sampling.top_k = 40;
      p.sampling.repetition_penalty = 1.1f;
      p.sampling.seed = 7;
    }
    if (variant == 2 || variant == 4) p.preselect_k = 0;
    auto g = s.generate(p);
    if (variant == 1) {
      if (old_env) ::setenv("TOME_GPU_PRESELECT", saved.c_str(), 1);
      else ::unsetenv("TOME_GPU_PRESELECT");
    }
    if (!g) return g.error_status();
    char cell[48];
    std::snprintf(cell, sizeof cell, "%s%.1f", variant ? " | " : "", g->tokens.size() / std::max(g->seconds, 1e-9));
    cells += cell;
  }
  TOME_TRY(s.rewind(*mk));
  return cells;
}

// The cost model of ANCHORS.md (multiply-add = 2 FLOPs): YOCO prefill FLOPs of n tokens =
// 2 n (L/2) P_self + n (L/2) A_self + 4 n D d_kv, A_self the token mixing per token and layer
// (gated retention, chunk 64: 4·64·hd + 4·hd² per head; sliding window: 4·W·D); the floor runs at
// kPeakFlops. Decode bytes per step: the weights a step reads (all but the embedding table, of which
// it reads one row) + each cross layer reading the global KV + the self-decoder state read and
// written; the floor runs at kPeakBytes.
constexpr double kPeakFlops = 720e12;  // cuBLAS bf16 GEMM at YOCO-3B shapes on the H100
constexpr double kPeakBytes = 3.02e12;  // HBM copy on the H100
// The Transformer baseline (kind transformer, L = n_self + n_cross layers of P_T parameters):
// prefill ≈ 2·N·L·P_T + 2·L·N²·D (causal attention, counted as ANCHORS.md does); decode bytes =
// the weights + every layer reading its own KV.
double transformer_prefill_flops(const model_config& c, int64_t n) {
  const double D = static_cast<double>(c.dim), F = static_cast<double>(c.ffn_dim), N = static_cast<double>(n);
  const double p_t = 2 * D * D + 2 * D * static_cast<double>(c.kv_dim()) + 3 * D * F;
  const double L = static_cast<double>(c.n_layers());
  return 2 * N * L * p_t + 2 * L * N * N * D;
}
double prefill_flops(const model_config& c, int64_t n) {
  if (c.is_transformer()) return transformer_prefill_flops(c, n);
  const double D = static_cast<double>(c.dim), F = static_cast<double>(c.ffn_dim);
  const double H = static_cast<double>(c.n_self_heads), hd = static_cast<double>(c.self_head_dim());
  const bool gret = c.self_kind == self_decoder_kind::gated_retention;
  const double p_self = 4 * D * D + 3 * D * F + (gret ? D * D + D * H : 0.0);
  const double a_self = gret ? H * (4 * 64 * hd + 4 * hd * hd) : 4.0 * static_cast<double>(c.window) * D;
  return static_cast<double>(n) * (2 * c.n_self_layers * p_self + c.n_self_layers * a_self + 4 * D * c.kv_dim());
}
double step_weight_bytes(const model& m) {
  const memory_breakdown w = m.memory();
  const double vocab = static_cast<double>(std::max<int64_t>(m.config().vocab_size, 1));
  return static_cast<double>(w.weights - w.embedding) + static_cast<double>(w.embedding) / vocab;
}
double decode_bytes(const model& m, int64_t n, int64_t kv_bytes_per_token, int64_t self_bytes) {
  // YOCO: kv_bytes_per_token is the one global KV, read by each cross layer; the Transformer's
  // already counts every layer's KV, each read once.
  const int64_t readers = m.config().is_transformer() ? 1 : m.config().n_cross_layers;
  return step_weight_bytes(m) + static_cast<double>(readers) * static_cast<double>(n) * kv_bytes_per_token +
         2.0 * static_cast<double>(self_bytes);
}

// --batch: for each length and batch size B, B sessions prefilled with different random tokens
// step together (session::decode_batch) for --decode-tokens steps: aggregate tokens/s (B tokens a
// step), per-session tokens/s, the step time, the same with greedy sampling inside the step
// (session::decode_batch_greedy), the B global KV caches and the peak device memory.
// "of floor": the cost model's bytes of a step (the weights once + every session's KV read by each
// cross layer + its self-decoder state read and written) at kPeakBytes.
int run_batches(const std::shared_ptr<model>& mp, const std::vector<int64_t>& lengths, const bench_options& o,
                std::mt19937& rng) {
  const model& md = *mp;
  const model_config& c = md.config();
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(c.vocab_size - 1));
  const bool gpu = md.device_memory().current >= 0;
  std::printf("\nbatched decode (session::decode_batch, %d steps timed after one untimed step):\n\n", o.decode_tokens);
  std::printf("| context | batch | aggregate tokens/s | per-session tokens/s | ms / step | of floor | greedy in the step: aggregate tokens/s | global KV (all sessions) | peak%s |\n",
              gpu ? " GPU (Tome / device)" : " memory");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::fflush(stdout);
  for (int64_t len : lengths) {
    for (int B : o.batches) {
      const int steps = static_cast<int>(std::clamp<int64_t>(c.max_context - len - 1, 0, o.decode_tokens));
      const memory_plan plan = md.plan_memory(len, o.chunk);
      const int64_t need = plan.need.global_kv * B + plan.need.self_state * B + plan.need.workspace;
      if (B < 1 || steps < 1 || (plan.available >= 0 && need > plan.available)) {
        std::printf("| %lld | %d | not run: %s |\n", static_cast<long long>(len), B,
                    B < 1 || steps < 1 ? "no room to decode" : ("needs " + human_bytes(need) + ", " +
                                                                human_bytes(plan.available) + " free").c_str());
        continue;
      }
      md.reset_peak_memory();
      std::vector<std::unique_ptr<session>> ss;
      std::vector<session*> ptrs;
      std::vector<int32_t> tokens(static_cast<size_t>(len)), next(static_cast<size_t>(B));
      prefill_params pp;
      pp.chunk_tokens = o.chunk;
      pp.compute_logits = false;
      for (int b = 0; b < B; ++b) {
        auto s = session::create(mp);
        if (!s) {
          std::fprintf(stderr, "tome: %s\n", s.message().c_str());
          return 1;
        }
        for (auto& t : tokens) t = tok(rng);
        auto pr = (*s)->prefill(tokens, pp);
        if (!pr) {
          std::fprintf(stderr, "tome: %s\n", pr.message().c_str());
          return 1;
        }
        ptrs.push_back(s->get());
        ss.push_back(std::move(*s));
      }
      double sec = 0;
      for (int step = 0; step <= steps; ++step) {  // step 0: untimed (first use of this batch size)
        for (auto& t : next) t = tok(rng);
        const auto t0 = std::chrono::steady_clock::now();
        const status st = session::decode_batch(ptrs, next);
        if (step > 0) sec += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!st.ok()) {
          std::fprintf(stderr, "tome: %s\n", st.message().c_str());
          return 1;
        }
      }
      // The same with greedy sampling in the step (session::decode_batch_greedy: on the device
      // where the backend can, one id per session crossing instead of V logits).
      double gsec = 0;
      std::vector<int32_t> chosen(static_cast<size_t>(B));
      for (int step = 0; step <= steps && len + steps + 1 + step < c.max_context; ++step) {
        const auto t0 = std::chrono::steady_clock::now();
        const status st = session::decode_batch_greedy(ptrs, next, chosen);
        if (step > 0) gsec += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!st.ok()) {
          std::fprintf(stderr, "tome: %s\n", st.message().c_str());
          return 1;
        }
        next = chosen;
      }
      int64_t kv = 0, self = 0;
      for (auto& s : ss) kv += s->memory().global_kv, self += s->memory().self_state;
      const int64_t kvpt = md.kv_bytes_per_token();
      const int64_t readers = c.is_transformer() ? 1 : c.n_cross_layers;
      const double step_bytes = step_weight_bytes(md) +
                                static_cast<double>(B) * readers * static_cast<double>(len + steps / 2) * kvpt +
                                2.0 * static_cast<double>(self);
      const device_memory_usage use = md.device_memory();
      const std::string peak = use.peak >= 0 ? human_bytes(use.peak) + " / " + human_bytes(use.device_used) : "-";
      char greedy_col[32] = "-";
      if (gsec > 0) std::snprintf(greedy_col, sizeof greedy_col, "%.1f", B * steps / gsec);
      std::printf("| %lld | %d | %.1f | %.1f | %.2f | %.0f%% | %s | %s | %s |\n", static_cast<long long>(len), B,
                  B * steps / sec, steps / sec, 1e3 * sec / steps, 100.0 * step_bytes / kPeakBytes * steps / sec,
                  greedy_col, human_bytes(kv).c_str(), peak.c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}

int run(const bench_options& o) {
  std::vector<int64_t> lengths;
  for (const std::string& l : o.lengths) {
    auto v = parse_length(l);
    if (!v) {
      std::fprintf(stderr, "tome: %s\n", v.message().c_str());
      return 2;
    }
    lengths.push_back(*v);
  }
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
  std::printf("weights in memory: %s (a decode step reads %s of them: all but the embedding table's other rows)\n\n",
              human_bytes(md.memory().weights).c_str(), human_bytes(static_cast<int64_t>(step_weight_bytes(md))).c_str());
  const bool gpu = md.device_memory().current >= 0;
  std::vector<std::string> sampled_lines;  // --sampled: one row per length, printed after the table
  std::printf("| context | prefill tokens/s | prefill s | of floor | decode tokens/s | of floor | global KV | self state | workspace (plan) | peak%s | free |\n",
              gpu ? " GPU (Tome / device)" : " memory");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::fflush(stdout);  // errors (stderr) come after the rows already printed
  std::mt19937 rng(static_cast<uint32_t>(o.seed));
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(c.vocab_size - 1));
  {  // warm-up: threads, BLAS buffers, page faults of the weights
    auto s = session::create(*m);
    std::vector<int32_t> w(256);
    for (auto& t : w) t = tok(rng);
    (void)(*s)->prefill(w);
    (void)(*s)->decode(w[0]);
  }
  for (int64_t len : lengths) {
    const memory_plan plan = md.plan_memory(len, o.chunk);
    if (!plan.fits()) {
      std::printf("| %lld | not run: %s |\n", static_cast<long long>(len), plan.describe().c_str());
      continue;
    }
    md.reset_peak_memory();
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
    // A context at the model's maximum leaves no room to decode: time as many steps as fit.
    const int n_decode = static_cast<int>(std::clamp<int64_t>(c.max_context - len, 0, o.decode_tokens));
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n_decode; ++i) {
      auto lg = (*s)->decode(tok(rng));
      if (!lg) {
        std::fprintf(stderr, "tome: %s\n", lg.message().c_str());
        return 1;
      }
    }
    const double dsec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const memory_breakdown mem = (*s)->memory();
    const device_memory_usage use = md.device_memory();
    const double prefill_floor = prefill_flops(c, len) / kPeakFlops;
    const double step_floor = decode_bytes(md, len + n_decode / 2, md.kv_bytes_per_token(),
                                           mem.self_state) / kPeakBytes;
    const std::string peak = use.peak >= 0 ? human_bytes(use.peak) + " / " + human_bytes(use.device_used) : "-";
    char decode_cols[64] = "- (context full) | -";
    if (n_decode > 0)
      std::snprintf(decode_cols, sizeof decode_cols, "%.1f | %.0f%%", n_decode / dsec, 100.0 * step_floor * n_decode / dsec);
    if (o.sampled && n_decode > 0) {
      auto line = time_sampled(**s, n_decode, c.max_context);
      if (!line) {
        std::fprintf(stderr, "tome: %s\n", line.message().c_str());
        return 1;
      }
      sampled_lines.push_back("| " + std::to_string(len) + " | " + *line + " |");
    }
    std::printf("| %lld | %.0f | %.2f | %.0f%% | %s | %s | %s | %s | %s | %s |\n", static_cast<long long>(len),
                len / pr->seconds, pr->seconds, 100.0 * prefill_floor / pr->seconds, decode_cols,
                human_bytes(mem.global_kv).c_str(),
                human_bytes(mem.self_state).c_str(), human_bytes(plan.need.workspace).c_str(), peak.c_str(),
                plan.available >= 0 ? human_bytes(plan.available).c_str() : "?");
    std::fflush(stdout);
  }
  if (!sampled_lines.empty()) {
    std::printf("\ngeneration (session::generate, tokens/s): top-k sampling (temperature 0.8, top_k 40, repetition "
                "penalty 1.1) and greedy\n\n| context | top-k: pre-selection where the logits are (the device on CUDA) | "
                "top-k: pre-selection on the host | top-k: full logits | greedy: pre-selection | greedy: full logits |\n"
                "|---:|---:|---:|---:|---:|---:|\n");
    for (const std::string& l : sampled_lines) std::printf("%s\n", l.c_str());
    std::fflush(stdout);
  }
  if (!o.batches.empty()) return run_batches(*m, lengths, o, rng);
  return 0;
}

}  // namespace

void register_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure prefill and decode speed and memory");
  auto o = std::make_shared<bench_options>();
  auto* md = cmd->add_option("--model,-m", o->model_dir, "model directory");
  auto* cf = cmd->add_option("--config", o->config_name,
                             "built-in configuration (tiny, tiny-swa, tome-25m, tome-25m-swa, yoco-3b, yoco-3b-swa; "
                             "the Transformer baseline: tiny-transformer, transformer-3b)");
  auto* rw = cmd->add_flag("--random-weights", o->random_weights, "random weights (with --config)");
  md->excludes(cf);
  cf->needs(rw);
  cmd->add_option("--lengths", o->lengths, "context lengths (tokens; 32k, 1m accepted)")->delimiter(',')->capture_default_str();
  cmd->add_option("--decode-tokens", o->decode_tokens, "decode steps timed per length")->capture_default_str();
  cmd->add_option("--batch", o->batches,
                  "batched decode at these batch sizes (e.g. 1,8,32): B sessions per length step together")
      ->delimiter(',');
  cmd->add_option("--chunk", o->chunk, "prefill chunk (tokens)")->capture_default_str();
  cmd->add_option("--seed", o->seed)->capture_default_str();
  cmd->add_flag("--sampled", o->sampled,
                "also time generation: top-k 40 sampling with candidates selected on the device, on the host, "
                "and on the full logits; greedy with one candidate selected and on the full logits");
  o->be.add(*cmd);
  cmd->callback([o] {
    if (o->model_dir.empty() && o->config_name.empty()) throw CLI::ValidationError("bench", "give --model DIR or --config NAME --random-weights");
    const int rc = run(*o);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tome::cli
