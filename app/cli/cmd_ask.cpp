// `tome ask SESSION QUESTION --model DIR [--thread T]`: loads the session's document state (or a
// thread of it), asks the question in a thread that stores only its own tokens, streams the
// answer to stdout and saves the thread. Ctrl-C stops the answer (what was generated is kept).
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>

#include "cli_common.h"
#include "tome/service/service.h"
#ifdef TOME_HAVE_INGEST
#include "tome/service/ingest.h"
#endif

namespace tome::cli {
namespace {

std::atomic<bool> g_cancel{false};
void on_sigint(int) { g_cancel.store(true); }

struct ask_options {
  std::string library, session, question, model_dir, thread;
  bool quiet = false, choose_path = false, no_pointer = false;
  double path_prior_weight = service::ask_params{}.path_prior_weight;
  double path_prior_budget = service::ask_params{}.path_prior_budget_s;
  size_t sources = 0;
  generate_params gen;
  backend_options be;
};

int run(const ask_options& o) {
  if (o.choose_path && o.no_pointer && o.sources > 0) {
    std::fprintf(stderr, "tome: --sources cannot be combined with --choose-path --no-pointer (a path chosen by its "
                         "probability has no attention record)\n");
    return 1;
  }
  auto lib = open_library(o.library);
  if (!lib) return 1;
  auto m = load_model_or_print(o.model_dir, o.be);
  if (!m) return 1;
  std::signal(SIGINT, on_sigint);
  service::ask_params p;
  p.thread = o.thread;
  p.gen = o.gen;
  p.gen.cancel = &g_cancel;
  p.attention = o.sources > 0;
  p.choose_path = o.choose_path;
  p.path_prior_weight = o.path_prior_weight;
  p.path_prior_budget_s = o.path_prior_budget;
  p.pointer = !o.no_pointer;
  if (!o.quiet)
    p.on_pointer = [](const service::ask_params::pointer_event& e) {
      // Where the heads looked, among the files holding the name, and the runner-up: how sure.
      std::fprintf(stderr, "tome: %s\n", service::describe_pointer(e).c_str());
    };
  if (!o.quiet)
    p.on_path_prior = [](const service::ask_params::path_prior_event& e) {
      if (e.skipped)
        std::fprintf(stderr,
                     "tome: the path choice is not calibrated: scoring the %lld paths (%lld decode "
                     "steps x %lld questions) would take about %.0f s here, over "
                     "--path-prior-budget\n",
                     static_cast<long long>(e.paths), static_cast<long long>(e.steps),
                     static_cast<long long>(e.questions), e.estimated_seconds);
      else
        std::fprintf(stderr,
                     "tome: calibrating the path choice: scoring the %lld paths after %lld "
                     "content-free questions (%lld decode steps each%s), once for this document "
                     "(kept in the library; Ctrl-C cancels; --path-prior-weight 0 skips it)\n",
                     static_cast<long long>(e.paths), static_cast<long long>(e.questions),
                     static_cast<long long>(e.steps),
                     e.estimated_seconds > 0
                         ? (", about " + std::to_string(static_cast<long long>(e.estimated_seconds + 0.5)) + " s").c_str()
                         : "");
    };
  auto r = service::ask(*lib, m, o.session, o.question, p, [](int32_t, std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  if (!r) {
    std::fprintf(stderr, "tome: %s\n", r.message().c_str());
    return 1;
  }
#ifdef TOME_HAVE_INGEST
  // (--choose-path: the pointer's record, where the model found the symbol; none when the path
  // choice answered instead, e.g. a question without a symbol)
  if (o.sources > 0 && o.choose_path && r->attention.empty())
    std::fprintf(stderr, "tome: no sources: the path was chosen by its probability, not by the pointer\n");
  else if (o.sources > 0) {
    auto info = lib->info(o.session);
    if (!info) {
      std::fprintf(stderr, "tome: %s\n", info.message().c_str());
      return 1;
    }
    auto spans = service::attention_sources(*info, r->attention, o.sources);
    if (!spans) {
      std::fprintf(stderr, "tome: %s\n", spans.message().c_str());
      return 1;
    }
    std::printf("sources:\n");
    for (const auto& sp : *spans) {
      std::printf("  %5.1f%%  %s", 100.0 * sp.mass, sp.source.file.c_str());
      if (sp.source.page > 0) std::printf(" p. %d", sp.source.page);
      if (sp.source.line_begin > 0) {
        std::printf(sp.source.line_end > sp.source.line_begin ? " lines %d-%d" : " line %d",
                    sp.source.line_begin, sp.source.line_end);
      }
      if (!sp.source.title.empty()) std::printf("  (%s)", sp.source.title.c_str());
      std::printf("\n");
    }
  }
#endif
  if (!o.quiet)
    std::fprintf(stderr, "[thread %s | %zu tokens, %.1f tokens/s | %lld tokens in context | %s]\n",
                 r->thread.c_str(), r->answer.tokens.size(),
                 r->answer.seconds > 0 ? r->answer.tokens.size() / r->answer.seconds : 0.0,
                 static_cast<long long>(r->context_tokens), to_string(r->answer.reason));
  return 0;
}

}  // namespace

void register_ask(CLI::App& app) {
  auto* cmd = app.add_subcommand("ask", "Ask a question about a session's documents");
  auto o = std::make_shared<ask_options>();
  cmd->add_option("session", o->session, "session name")->required();
  cmd->add_option("question", o->question, "the question")->required();
  cmd->add_option("--model,-m", o->model_dir, "model directory (the one that read the session)")
      ->required();
  cmd->add_option("--thread,-t", o->thread,
                  "continue this thread (created if missing); default: a new one");
  cmd->add_option("--max-tokens,-n", o->gen.max_tokens, "tokens to generate")
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", o->quiet, "no statistics on stderr");
  cmd->add_flag("--choose-path", o->choose_path,
                "answer with the session's file path the model finds most likely (e.g. \"Which "
                "file defines jv_parse?\"): always a real path, never a near-copy");
  cmd->add_flag("--no-pointer", o->no_pointer,
                "with --choose-path: do not answer from the model's pointer heads (the file they attend "
                "to most from the question's `symbol`), choose by the paths' probabilities instead");
  cmd->add_option("--path-prior-weight", o->path_prior_weight,
                  "with --choose-path: calibrate against the paths' prior under content-free "
                  "questions with this weight (0: the plain most likely path; see "
                  "training/results/question-form/)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 4.0));
  cmd->add_option("--path-prior-budget", o->path_prior_budget,
                  "with --choose-path: the most seconds the paths' prior may take (estimated "
                  "first; over it the answer is not calibrated; 0: no limit)")
      ->capture_default_str();
#ifdef TOME_HAVE_INGEST
  cmd->add_option("--sources", o->sources,
                  "print the N passages the answer attended to most (file, page, lines; with --choose-path: "
                  "where the pointer heads found the symbol)");
#endif
  add_sampling_options(*cmd, o->gen.sampling);
  add_library_option(*cmd, o->library);
  o->be.add(*cmd);
  cmd->callback([o] {
    if (const int rc = run(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tome::cli
