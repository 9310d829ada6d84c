// `tome`: the command line of Tome. Subcommands: info, generate, bench, sessions, ask, export,
// import, rm, complete, score (+ ingest, serve where built).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli_common.h"
#include "tome/service/service.h"

namespace tome::cli {

void backend_options::add(CLI::App& app) {
  app.add_option("--backend", backend, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0 = all cores)")->capture_default_str();
  app.add_option("--kv", kv,
                 "global-KV precision: bf16 (the backend's own: bf16 on CUDA, f32 on the CPU) or fp8 "
                 "(e4m3 with a scale per token and KV head, CUDA only: half the memory and decode traffic)")
      ->check(CLI::IsMember({"bf16", "fp8"}))
      ->capture_default_str();
  app.add_option("--weights", weights,
                 "matrix precision on the GPU: auto (int8 where the model stores int8, else bf16), bf16, or "
                 "int8 (weight-only, one scale per row: half the bytes of bf16; float models are quantised at "
                 "load, random weights as export.py does)")
      ->check(CLI::IsMember({"auto", "bf16", "int8"}))
      ->capture_default_str();
}

result<load_params> backend_options::params() const {
  load_params p;
  p.n_threads = threads;
  p.kv = kv == "fp8" ? kv_format::fp8 : kv_format::native;
  p.weights = weights == "int8" ? weight_format::int8 : weights == "bf16" ? weight_format::bf16 : weight_format::automatic;
  if (backend == "cpu") p.backend = backend_kind::cpu;
  else if (backend == "cuda") p.backend = backend_kind::cuda;
  else p.backend = backend_kind::automatic;
  return p;
}

void add_sampling_options(CLI::App& app, sampling_params& s) {
  app.add_option("--temperature", s.temperature, "0 = greedy")->capture_default_str();
  app.add_option("--top-k", s.top_k, "0 = off")->capture_default_str();
  app.add_option("--top-p", s.top_p, "1 = off")->capture_default_str();
  app.add_option("--min-p", s.min_p, "0 = off")->capture_default_str();
  app.add_option("--repeat-penalty", s.repetition_penalty, "1 = off")->capture_default_str();
  app.add_option("--repeat-window", s.repetition_window)->capture_default_str();
  app.add_option("--seed", s.seed)->capture_default_str();
}

std::string human_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

void add_library_option(CLI::App& app, std::string& path) {
  app.add_option("--library", path, "library file (default: $TOME_LIBRARY, else "
                 "$XDG_DATA_HOME/tome/library.db, else ~/.local/share/tome/library.db)");
}

std::unique_ptr<store::library> open_library(const std::string& path, bool read_only) {
  std::filesystem::path p = path.empty() ? service::default_library_path() : std::filesystem::path(path);
  if (!read_only) {
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
  }
  store::open_params op;
  op.read_only = read_only;
  auto lib = store::library::open(p, op);
  if (!lib) {
    std::fprintf(stderr, "tome: %s\n", lib.message().c_str());
    return nullptr;
  }
  return std::move(*lib);
}

std::filesystem::path default_model_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  auto dir = exe.parent_path().parent_path() / "share" / "tome" / "models" / "tome-25m";
  if (!std::filesystem::is_regular_file(dir / "config.json", ec)) return {};
  return dir;
}

void use_default_model(CLI::App& app) {
  const std::filesystem::path dir = default_model_dir();
  for (CLI::App* cmd : app.get_subcommands({})) {
    CLI::Option* opt = cmd->get_option_no_throw("--model");
    if (opt == nullptr || !opt->get_required()) continue;  // bench: --model or --config
    opt->envname("TOME_MODEL");
    if (!dir.empty()) opt->required(false)->default_val(dir.string());
  }
}

std::shared_ptr<const model> load_model_or_print(const std::string& dir, const backend_options& be) {
  auto params = be.params();
  auto m = model::load(dir, *params);
  if (!m) {
    std::fprintf(stderr, "tome: %s\n", m.message().c_str());
    return nullptr;
  }
  return *m;
}

}  // namespace tome::cli

int main(int argc, char** argv) {
  CLI::App app{"Tome: read a whole document once into a YOCO model, then ask about it."};
  app.set_version_flag("--version", std::string("tome ") + tome::version_string());
  app.require_subcommand(1);
  tome::cli::register_info(app);
  tome::cli::register_generate(app);
  tome::cli::register_bench(app);
  tome::cli::register_sessions(app);
  tome::cli::register_ask(app);
  tome::cli::register_export(app);
  tome::cli::register_import(app);
  tome::cli::register_rm(app);
  tome::cli::register_complete(app);
  tome::cli::register_score(app);
#ifdef TOME_HAVE_INGEST
  tome::cli::register_ingest(app);
#endif
#ifdef TOME_HAVE_SERVER
  tome::cli::register_serve(app);
#endif
  tome::cli::use_default_model(app);  // after every register_*: --model becomes optional
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
