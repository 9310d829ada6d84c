// The engine's weight layout, shared by every backend: which tensor of the table
// (engine/tensor_names.json) fills which member of a backend's weight structs, and the
// dequantisation of a stored tensor (f32/f16/bf16, or int8 with per-row scales) to f32.
// A backend's self-layer struct has members mixer_norm, ffn_norm, w1, w3, w2, wq, wk, wv, wo,
// wg, wgt (the last two for gated retention); its cross-layer struct mixer_norm, ffn_norm, wq, wo,
// w1, w3, w2. `get(name, member)` loads one tensor into one member.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "tome/model_config.h"
#include "tome/status.h"

namespace tome {

// The tensor `name` as f32 (int8: scale[row] * q). Errors name `source` and the tensor.
status dequantize_to_f32(const safetensors_index& index, const std::string& name,
                         const std::string& source, std::vector<float>& out);

// Symmetric per-row int8 of w [rows, cols] as training/export.py's quantize_int8: scale[r] =
// max|w[r, :]| / 127 (f32), q = round-half-even(w / scale[r]) (f32 division) clamped to ±127; an
// all-zero row gets scale 0 and q 0. W ≈ scale[r] * q[r, c].
void quantize_int8_rows(const float* w, int64_t rows, int64_t cols, int8_t* q, float* scale);

// The token embedding table's tensor name (the loaders also note its bytes: a decode step reads one
// row of it, so `tome bench` leaves the rest out of the step's bandwidth floor).
inline constexpr const char* kEmbeddingTensor = "tok_embeddings.weight";

template <class Buf>
struct global_weights {
  Buf embed, kv_norm, kv_wk, kv_wv, norm, out;
};

template <class Buf, class SelfW, class CrossW, class Get>
status visit_weights(const model_config& c, global_weights<Buf>& g, std::vector<SelfW>& self,
                     std::vector<CrossW>& cross, Get&& get) {
  TOME_TRY(get(kEmbeddingTensor, g.embed));
  TOME_TRY(get("kv_norm.weight", g.kv_norm));
  TOME_TRY(get("kv.wk.weight", g.kv_wk));
  TOME_TRY(get("kv.wv.weight", g.kv_wv));
  TOME_TRY(get("norm.weight", g.norm));
  TOME_TRY(get("output.weight", g.out));
  const bool gret = c.self_kind == self_decoder_kind::gated_retention;
  self.resize(static_cast<size_t>(c.n_self_layers));
  for (size_t i = 0; i < self.size(); ++i) {
    const std::string p = "self." + std::to_string(i) + ".", m = p + (gret ? "retention." : "attn.");
    SelfW& w = self[i];
    TOME_TRY(get(p + "mixer_norm.weight", w.mixer_norm));
    TOME_TRY(get(p + "ffn_norm.weight", w.ffn_norm));
    TOME_TRY(get(p + "ffn.w1.weight", w.w1));
    TOME_TRY(get(p + "ffn.w3.weight", w.w3));
    TOME_TRY(get(p + "ffn.w2.weight", w.w2));
    TOME_TRY(get(m + "wq.weight", w.wq));
    TOME_TRY(get(m + "wk.weight", w.wk));
    TOME_TRY(get(m + "wv.weight", w.wv));
    TOME_TRY(get(m + "wo.weight", w.wo));
    if (gret) {
      TOME_TRY(get(m + "wg.weight", w.wg));
      TOME_TRY(get(m + "wgt.weight", w.wgt));
    }
  }
  cross.resize(static_cast<size_t>(c.n_cross_layers));
  for (size_t i = 0; i < cross.size(); ++i) {
    const std::string p = "cross." + std::to_string(i) + ".";
    CrossW& w = cross[i];
    TOME_TRY(get(p + "mixer_norm.weight", w.mixer_norm));
    TOME_TRY(get(p + "ffn_norm.weight", w.ffn_norm));
    TOME_TRY(get(p + "attn.wq.weight", w.wq));
    TOME_TRY(get(p + "attn.wo.weight", w.wo));
    TOME_TRY(get(p + "ffn.w1.weight", w.w1));
    TOME_TRY(get(p + "ffn.w3.weight", w.w3));
    TOME_TRY(get(p + "ffn.w2.weight", w.w2));
  }
  return {};
}

// The Transformer baseline (model_config kind transformer): global embed, norm, out (the shared
// KV's tensors are absent) and L = n_self + n_cross layers; a layer struct has the cross layer's
// members plus wk, wv [kv_dim, D].
template <class Buf, class LayerW, class Get>
status visit_transformer_weights(const model_config& c, global_weights<Buf>& g, std::vector<LayerW>& layers,
                                 Get&& get) {
  TOME_TRY(get(kEmbeddingTensor, g.embed));
  TOME_TRY(get("norm.weight", g.norm));
  TOME_TRY(get("output.weight", g.out));
  layers.resize(static_cast<size_t>(c.n_layers()));
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    LayerW& w = layers[i];
    TOME_TRY(get(p + "mixer_norm.weight", w.mixer_norm));
    TOME_TRY(get(p + "ffn_norm.weight", w.ffn_norm));
    TOME_TRY(get(p + "attn.wq.weight", w.wq));
    TOME_TRY(get(p + "attn.wk.weight", w.wk));
    TOME_TRY(get(p + "attn.wv.weight", w.wv));
    TOME_TRY(get(p + "attn.wo.weight", w.wo));
    TOME_TRY(get(p + "ffn.w1.weight", w.w1));
    TOME_TRY(get(p + "ffn.w3.weight", w.w3));
    TOME_TRY(get(p + "ffn.w2.weight", w.w2));
  }
  return {};
}

}  // namespace tome
