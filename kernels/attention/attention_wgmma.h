// The Hopper attention kernel's launcher (attention_wgmma.cu), for attention.cu's launch().
#pragma once
#include <cstdint>

#include "tome/kernels.h"

namespace tome::kernels::detail {

// Launches the sm_90a kernel when it applies (enabled and available, head_dim 128, bf16 KV, 16-byte
// aligned tensors) and returns true with the launch status in *result; false: nothing launched
// (the caller runs its own kernels). splits > 1 writes f32 partials to `partial` for the combine
// kernel, as attn_tile_kernel does.
bool attention_wgmma_launch(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o, float* partial,
                            int64_t rows, int64_t kv_stride, int64_t first_key_offset, int hq, int group, int splits,
                            int64_t window, float scale, stream_t stream, status* result);

}  // namespace tome::kernels::detail
