// `tome score --model DIR --rows FILE`: teacher-forced scoring of token rows through the engine
// (held-out perplexity, exact match of template tasks; training/eval.py --engine-tasks writes the
// rows). One JSON line per row on stdout (score_rows.h has the keys); progress on stderr.
// Not a generator: nothing is sampled, no text is decoded.
#include <chrono>
#include <cstdio>

#include "cli_common.h"
#include "score_rows.h"

namespace tome::cli {
namespace {

struct score_options {
  std::string model_dir, rows;
  int64_t chunk = 32768, logits_chunk = 512;
  bool quiet = false, choose_paths = false, path_scores = false, pointer = false;
  backend_options be;
};

using clock_type = std::chrono::steady_clock;

double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

int run(const score_options& o) {
  auto m = load_model_or_print(o.model_dir, o.be);
  if (!m) return 1;
  auto rows = read_rows_file(o.rows, m->config().vocab_size);
  if (!rows) {
    std::fprintf(stderr, "tome: %s\n", rows.message().c_str());
    return 1;
  }
  const int64_t max_context = m->config().max_context;
  for (size_t i = 0; i < rows->size(); ++i)
    if ((*rows)[i].length() > max_context) {
      std::fprintf(stderr,
                   "tome: %s: row %zu: T = %lld is more than the model's maximum context of %lld\n",
                   o.rows.c_str(), i, static_cast<long long>((*rows)[i].length()),
                   static_cast<long long>(max_context));
      return 1;
    }
  int64_t total = 0;
  for (const score_row& r : *rows) total += r.length();
  score_params sp;
  sp.prefill_chunk = o.chunk;
  sp.logits_chunk = o.logits_chunk;
  sp.eos = m->config().special_id("eos");
  sp.choose_paths = o.choose_paths || o.path_scores;
  sp.path_scores = o.path_scores;
  sp.pointer = o.pointer;
  if (sp.pointer && (!m->has_tokenizer() || m->config().pointer_heads.empty() ||
                     m->config().special_id("file_start") < 0 || m->config().special_id("question") < 0)) {
    std::fprintf(stderr, "tome: --pointer needs a model with pointer_heads in its config.json, a tokenizer and "
                         "file_start and question tokens (%s)\n", o.model_dir.c_str());
    return 1;
  }
  if (sp.choose_paths && (!m->has_tokenizer() || m->config().special_id("file_start") < 0)) {
    std::fprintf(stderr, "tome: --choose-paths needs a model with a tokenizer and a file_start token (%s)\n",
                 o.model_dir.c_str());
    return 1;
  }
  const bool progress = !o.quiet && (rows->size() > 1 || total > 4096);
  const auto t0 = clock_type::now();
  auto last_print = t0;
  int64_t done_tokens = 0;
  size_t index = 0;
  auto print_progress = [&](int64_t extra) {
    const double s = since(t0);
    std::fprintf(stderr, "\rscore: row %zu / %zu, %lld / %lld tokens, %.0f tokens/s, %.0f s   ",
                 index + 1, rows->size(), static_cast<long long>(done_tokens + extra),
                 static_cast<long long>(total), s > 0 ? (done_tokens + extra) / s : 0.0, s);
    last_print = clock_type::now();
  };
  if (progress)
    sp.on_prefill = [&](const prefill_progress& p) {
      if (since(last_print) >= 1.0) print_progress(p.done);
    };
  for (; index < rows->size(); ++index) {
    const score_row& r = (*rows)[index];
    const auto tr = clock_type::now();
    auto sc = score_one(m, r, sp);
    if (!sc) {
      if (progress) std::fputc('\n', stderr);
      std::fprintf(stderr, "tome: %s: row %zu: %s\n", o.rows.c_str(), index, sc.message().c_str());
      return 1;
    }
    std::printf("%s\n", score_json(static_cast<int64_t>(index), *sc, since(tr)).c_str());
    std::fflush(stdout);
    done_tokens += r.length();
    if (progress && (since(last_print) >= 1.0 || index + 1 == rows->size())) print_progress(0);
  }
  if (progress)
    std::fprintf(stderr, "\n[%s | %zu rows, %lld tokens, %.1f s]\n",
                 m->backend_description().c_str(), rows->size(), static_cast<long long>(total),
                 since(t0));
  return 0;
}

}  // namespace

void register_score(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "score",
      "Teacher-forced scoring of token rows: cross-entropy and exact match per row (JSON lines)");
  auto o = std::make_shared<score_options>();
  cmd->add_option("--model,-m", o->model_dir, "model directory")->required();
  cmd->add_option(
         "--rows,-r", o->rows,
         "rows file (docs/model-format.md, \"Scoring rows\"; training/eval.py writes them)")
      ->required();
  cmd->add_option("--chunk", o->chunk, "prefill chunk of the unscored prefix (tokens)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--logits-chunk", o->logits_chunk,
                  "positions per cross-decoder call when scoring (holds vocab floats each)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--choose-paths", o->choose_paths,
                "also choose each answer among the file paths in its row's context (the most "
                "likely of them: \"choice_exact\"), as `tome ask --choose-path` answers");
  cmd->add_flag("--path-scores", o->path_scores,
                "with --choose-paths (implied): also every path's log-probability as the "
                "answer (\"path_logprobs\"; one decode step per node of the paths' prefix tree)");
  cmd->add_flag("--pointer", o->pointer,
                "also the file the model's pointer heads (config.json \"pointer_heads\") attend to most from "
                "the question's symbol (\"pointer_exact\", \"pointer_choice\", \"pointer_mass\"), as `tome ask "
                "--choose-path` answers");
  cmd->add_flag("--quiet,-q", o->quiet, "no progress on stderr");
  o->be.add(*cmd);
  cmd->callback([o] {
    const int rc = run(*o);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tome::cli
