// `tome generate --model DIR (--prompt TEXT | --template NAME… --var K=V…)`: prefill the prompt (with progress on stderr for
// long ones), then stream the continuation to stdout; timings on stderr.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>

#include "cli_common.h"

namespace tome::cli {
namespace {

std::atomic<bool> g_cancel{false};
void on_sigint(int) { g_cancel.store(true); }

struct generate_options {
  std::string model_dir, prompt, prompt_file;
  std::vector<std::string> templates, vars, var_files;  // --template NAME, --var k=v, --var-file k=PATH
  bool no_bos = false, quiet = false;
  int64_t chunk = 32768;
  generate_params gen;
  backend_options be;
};

int run(const generate_options& o) {
  auto params = o.be.params();
  auto m = model::load(o.model_dir, *params);
  if (!m) {
    std::fprintf(stderr, "tome: %s\n", m.message().c_str());
    return 1;
  }
  std::string prompt = o.prompt;
  if (!o.prompt_file.empty()) {
    std::ifstream f(o.prompt_file, std::ios::binary);
    if (!f) {
      std::fprintf(stderr, "tome: %s: cannot be read\n", o.prompt_file.c_str());
      return 1;
    }
    prompt.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  const model& md = **m;
  std::vector<int32_t> tokens;
  if (!o.templates.empty()) {
    // The prompt from the model's templates, in order (e.g. document, then question), with
    // --var / --var-file values; special tokens come only from the templates themselves.
    std::map<std::string, std::string> vars;
    for (const std::string& kv : o.vars) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "tome: --var %s: expected NAME=VALUE\n", kv.c_str());
        return 1;
      }
      vars[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const std::string& kv : o.var_files) {
      const size_t eq = kv.find('=');
      std::ifstream f(eq == std::string::npos ? std::string() : kv.substr(eq + 1), std::ios::binary);
      if (eq == std::string::npos || !f) {
        std::fprintf(stderr, "tome: --var-file %s: expected NAME=PATH of a readable file\n", kv.c_str());
        return 1;
      }
      vars[kv.substr(0, eq)].assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    for (const std::string& name : o.templates) {
      auto ids = md.tok().encode_template(name, vars);
      if (!ids) {
        std::fprintf(stderr, "tome: %s\n", ids.message().c_str());
        return 1;
      }
      tokens.insert(tokens.end(), ids->begin(), ids->end());
    }
  } else {
    const int32_t bos = md.config().special_id("bos");
    if (!o.no_bos && bos >= 0) tokens.push_back(bos);
    const auto text_ids = md.tok().encode(prompt);
    tokens.insert(tokens.end(), text_ids.begin(), text_ids.end());
  }
  if (tokens.empty()) {
    std::fprintf(stderr, "tome: the prompt is empty\n");
    return 1;
  }
  auto s = session::create(*m);
  if (!s) {
    std::fprintf(stderr, "tome: %s\n", s.message().c_str());
    return 1;
  }
  std::signal(SIGINT, on_sigint);
  prefill_params pp;
  pp.chunk_tokens = o.chunk;
  pp.cancel = &g_cancel;
  if (!o.quiet && tokens.size() > 4096)
    pp.on_progress = [](const prefill_progress& p) {
      const double left = p.tokens_per_second > 0 ? (p.total - p.done) / p.tokens_per_second : 0;
      std::fprintf(stderr, "\rprefill %lld / %lld tokens, %.0f tokens/s, %.0f s left   ",
                   static_cast<long long>(p.done), static_cast<long long>(p.total), p.tokens_per_second, left);
    };
  auto pr = (*s)->prefill(tokens, pp);
  if (!pr) {
    std::fprintf(stderr, "tome: %s\n", pr.message().c_str());
    return 1;
  }
  if (pr->cancelled) {
    std::fprintf(stderr, "\ntome: cancelled after %lld tokens\n", static_cast<long long>(pr->tokens_done));
    return 130;
  }
  generate_params gp = o.gen;
  gp.cancel = &g_cancel;
  auto out = (*s)->generate(gp, [](int32_t, std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  if (!out) {
    std::fprintf(stderr, "tome: %s\n", out.message().c_str());
    return 1;
  }
  if (!o.quiet) {
    const double ptps = pr->seconds > 0 ? tokens.size() / pr->seconds : 0;
    const double dtps = out->seconds > 0 ? out->tokens.size() / out->seconds : 0;
    std::fprintf(stderr, "[%s | prompt %zu tokens, %.0f tokens/s | generated %zu tokens, %.1f tokens/s | %s]\n",
                 md.backend_description().c_str(), tokens.size(), ptps, out->tokens.size(), dtps,
                 to_string(out->reason));
  }
  return 0;
}

}  // namespace

void register_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Continue a prompt with a model");
  auto o = std::make_shared<generate_options>();
  cmd->add_option("--model,-m", o->model_dir, "model directory")->required();
  auto* p = cmd->add_option("--prompt,-p", o->prompt, "prompt text");
  auto* f = cmd->add_option("--prompt-file,-f", o->prompt_file, "read the prompt from a file");
  p->excludes(f);
  auto* t = cmd->add_option("--template,-t", o->templates,
                            "build the prompt from the model's templates, in order (repeatable), e.g. "
                            "-t document -t question");
  t->excludes(p);
  t->excludes(f);
  cmd->add_option("--var", o->vars, "template value NAME=VALUE (repeatable)")->needs(t);
  cmd->add_option("--var-file", o->var_files, "template value NAME=PATH, read from a file (repeatable)")->needs(t);
  cmd->add_option("--max-tokens,-n", o->gen.max_tokens, "tokens to generate")->capture_default_str();
  cmd->add_option("--stop", o->gen.stop, "stop string (repeatable)");
  cmd->add_flag("--ignore-eos", [o](int64_t) { o->gen.stop_at_eos = false; }, "keep going after EOS");
  cmd->add_flag("--no-bos", o->no_bos, "do not start the prompt with the BOS token");
  cmd->add_option("--chunk", o->chunk, "prefill chunk (tokens)")->capture_default_str();
  cmd->add_flag("--quiet,-q", o->quiet, "no timings on stderr");
  add_sampling_options(*cmd, o->gen.sampling);
  o->be.add(*cmd);
  cmd->callback([o] {
    const int rc = run(*o);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tome::cli
