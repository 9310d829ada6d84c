// `tome info DIR`: loads a model directory (every check of docs/model-format.md) and prints
// its configuration, size, fingerprint and memory per token.
#include <cstdio>
#include <iostream>

#include "cli_common.h"

namespace tome::cli {

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Check a model directory and describe it");
  auto dir = std::make_shared<std::string>();
  auto be = std::make_shared<backend_options>();
  cmd->add_option("dir", *dir, "model directory")->required();
  be->add(*cmd);
  cmd->callback([dir, be] {
    auto params = be->params();
    auto m = model::load(*dir, *params);
    if (!m) {
      std::fprintf(stderr, "tome: %s\n", m.message().c_str());
      throw CLI::RuntimeError(1);
    }
    const model& md = **m;
    const model_config& c = md.config();
    std::printf("model        %s\n", c.name.c_str());
    std::printf("directory    %s\n", md.directory().c_str());
    std::printf("fingerprint  %s\n", md.fingerprint().c_str());
    std::printf("parameters   %.2fM (%s weights)\n", md.n_parameters() / 1e6, md.weights_dtype().c_str());
    std::printf("self-decoder %lld x %s", static_cast<long long>(c.n_self_layers), to_string(c.self_kind));
    if (c.self_kind == self_decoder_kind::sliding_window) std::printf(" (window %lld)", static_cast<long long>(c.window));
    std::printf(", %lld heads of %lld\n", static_cast<long long>(c.n_self_heads), static_cast<long long>(c.self_head_dim()));
    std::printf("cross-decoder %lld layers, %lld query heads of %lld, %lld KV heads\n",
                static_cast<long long>(c.n_cross_layers), static_cast<long long>(c.n_heads),
                static_cast<long long>(c.head_dim()), static_cast<long long>(c.n_kv_heads));
    std::printf("dim %lld, ffn %lld, vocab %lld, rope theta %g, norm eps %g, max context %lld\n",
                static_cast<long long>(c.dim), static_cast<long long>(c.ffn_dim),
                static_cast<long long>(c.vocab_size), c.rope_theta, c.norm_eps,
                static_cast<long long>(c.max_context));
    std::printf("global KV    %s per token (f32 on the CPU backend)\n", human_bytes(2 * c.kv_dim() * 4).c_str());
    std::printf("backend      %s, weights in memory %s\n", md.backend_description().c_str(),
                human_bytes(md.memory().weights).c_str());
    std::printf("tokenizer    %d pieces\n", md.tok().vocab_size());
    for (const auto& [role, t] : c.special_tokens)
      std::printf("  special %-11s %5d %s\n", role.c_str(), t.id, t.piece.c_str());
    for (const auto& [name, text] : c.templates) {
      std::string shown;
      for (char ch : text) shown += ch == '\n' ? std::string("\\n") : std::string(1, ch);
      std::printf("  template %-10s %s\n", name.c_str(), shown.c_str());
    }
  });
}

}  // namespace tome::cli
