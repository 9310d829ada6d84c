// Shared pieces of the `tome` command line: backend and sampling options, model loading with
// errors printed, number formatting. Each command lives in its own cmd_<name>.cpp.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "tome/engine.h"

namespace tome::cli {

struct backend_options {
  std::string backend = "auto";
  int threads = 0;
  void add(CLI::App& app);
  result<load_params> params() const;
};

void add_sampling_options(CLI::App& app, sampling_params& s);

std::string human_bytes(int64_t bytes);

void register_info(CLI::App& app);
void register_generate(CLI::App& app);
void register_bench(CLI::App& app);

}  // namespace tome::cli
