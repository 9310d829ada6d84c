// Shared pieces of the `tome` command line: backend and sampling options, model loading with
// errors printed, number formatting. Each command lives in its own cmd_<name>.cpp.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "tome/engine.h"
#include "tome/store/library.h"

namespace tome::cli {

struct backend_options {
  std::string backend = "auto";
  int threads = 0;
  std::string kv = "bf16";  // --kv: bf16 (the backend's native precision; f32 on the CPU) or fp8
  std::string weights = "auto";  // --weights: auto, bf16 or int8 (load_params::weights)
  void add(CLI::App& app);
  result<load_params> params() const;
};

void add_sampling_options(CLI::App& app, sampling_params& s);

std::string human_bytes(int64_t bytes);

// --library PATH (default: tome::service::default_library_path()) and opening it with errors
// printed; nullptr after printing the error.
void add_library_option(CLI::App& app, std::string& path);
std::unique_ptr<store::library> open_library(const std::string& path, bool read_only = false);
// The default model: <prefix>/share/tome/models/tome-25m beside <prefix>/bin/tome (the installed
// package), or empty when that folder has no config.json (a build tree).
std::filesystem::path default_model_dir();
// Every subcommand whose --model is required also reads $TOME_MODEL, and when default_model_dir()
// exists, --model becomes optional with that default. Call after registering the subcommands.
void use_default_model(CLI::App& app);
// Loads --model DIR with the backend options, printing the error; nullptr on failure.
std::shared_ptr<const model> load_model_or_print(const std::string& dir, const backend_options& be);

void register_info(CLI::App& app);
void register_generate(CLI::App& app);
void register_bench(CLI::App& app);
void register_sessions(CLI::App& app);
void register_ask(CLI::App& app);
void register_export(CLI::App& app);
void register_import(CLI::App& app);
void register_rm(CLI::App& app);
void register_complete(CLI::App& app);
void register_score(CLI::App& app);
void register_ingest(CLI::App& app);  // only when ingest/ is built (TOME_HAVE_INGEST)
void register_serve(CLI::App& app);   // only when app/server is built (TOME_HAVE_SERVER)

}  // namespace tome::cli
