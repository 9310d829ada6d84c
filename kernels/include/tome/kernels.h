// tome::kernels: launchers of Tome's CUDA kernels. Pointers are device pointers; bf16 values are
// passed as uint16_t storage so this header needs no CUDA header. Every launcher only enqueues on
// the given stream (never synchronises, never exits) and returns a status; errors of the launch
// itself are reported, errors of the kernel's execution surface at the caller's next sync.
// Each op has a CPU twin of the same name in engine/src/backend/cpu/cpu_ops.h; tests/kernels
// compares them.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace tome::kernels {

using stream_t = CUstream_st*;  // == cudaStream_t

struct status {
  int code = 0;                // cudaError_t, or -1 for a bad argument
  const char* message = "";    // static string
  bool ok() const { return code == 0; }
};

// Number of usable CUDA devices; 0 when there is no driver or no GPU (never fails).
int device_count();
// Why device_count() is 0, in words ("" when there is a device): no GPU, a driver too old for
// this CUDA runtime, or the runtime's own error text.
const char* no_device_reason();
// Name and memory of device `index` (empty name when unavailable).
struct device_info {
  char name[256] = {};
  int64_t total_bytes = 0;
  int64_t free_bytes = 0;
  int sm_count = 0;
  int major = 0, minor = 0;
};
status get_device_info(int index, device_info* out);
// Whether the kernels may be launched as programmatic dependent launches (PDL): the device has it
// (compute capability 9.0+) and the code it runs of this library was compiled for sm_90+ (so its
// griddepcontrol.wait exists). Decided once per process; capture-safe.
bool programmatic_launch_ok();
// __CUDA_ARCH__ of the code the current device runs for this library (e.g. 900 for sm_90a SASS,
// 800 where it JIT-compiles the compute_80 PTX); 0 on failure. Runs a probe kernel and waits:
// for tests and diagnostics, not inside a stream capture.
int compiled_arch();

// y[r] = bf16( f32(x[r]) / sqrt(mean(f32(x[r])^2) + eps) ) * w   (x, w, y bf16 [rows, dim]).
status rms_norm(const uint16_t* x, const uint16_t* w, uint16_t* y, int64_t rows, int64_t dim,
                float eps, stream_t stream);

// The residual add fused with the next norm: x += y (bf16, as add), then out = rms_norm(x) * w.
// Equal to add() followed by rms_norm(); one pass over x instead of three.
status add_rms_norm(uint16_t* x, const uint16_t* y, const uint16_t* w, uint16_t* out, int64_t rows,
                    int64_t dim, float eps, stream_t stream);

// Interleaved RoPE in place on x bf16 [rows, heads, head_dim]; row r at position pos0 + r;
// inv_freq f32 [head_dim/2] on the device; angles f32(pos) * inv_freq in f32.
status rope(uint16_t* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t pos0,
            const float* inv_freq, stream_t stream);

// The same with the position read from device memory (*pos = pos0): for decode steps captured in a
// CUDA graph, whose arguments are fixed.
status rope_at(uint16_t* x, int64_t rows, int64_t heads, int64_t head_dim, const int64_t* pos,
               const float* inv_freq, stream_t stream);
// The sliding-window decode ring (kernels/window/ring_store.cu): k, v bf16 [dim] into row
// (*pos mod slots) of ring_k, ring_v bf16 [slots, dim], and (n_last non-null) *n_last =
// min(*pos, slots - 1): the decode attention then reads keys 0..*n_last of the ring, in slot order
// (keys carry their RoPE already; the attention's sum does not depend on their order). dim % 8 == 0,
// 16-byte aligned rows.
status ring_store(const uint16_t* k, const uint16_t* v, uint16_t* ring_k, uint16_t* ring_v, int64_t dim,
                  const int64_t* pos, int64_t slots, int64_t* n_last, stream_t stream);
// ring_store for `rows` sessions of a batched step: row r's k, v at r * row_stride elements, into
// ring_k[r], ring_v[r] (device arrays of pointers) at slot pos[r] mod slots; n_last[r] likewise.
status ring_store_rows(const uint16_t* k, const uint16_t* v, int64_t row_stride, uint16_t* const* ring_k,
                       uint16_t* const* ring_v, int64_t rows, int64_t dim, const int64_t* pos, int64_t slots,
                       int64_t* n_last, stream_t stream);
// One decode token's global KV row, p = *pos (device): global_k[p] = RoPE(k) at position p,
// global_v[p] = v; k, v bf16 [kv_heads * head_dim]; global_k/v bf16 [capacity, kv_heads * head_dim].
status rope_store_kv(const uint16_t* k, const uint16_t* v, uint16_t* global_k, uint16_t* global_v,
                     int64_t kv_heads, int64_t head_dim, const int64_t* pos, const float* inv_freq,
                     stream_t stream);

// out[i] = silu(a[i]) * b[i] in f32, stored bf16 (a: SiLU branch W1, b: linear branch W3).
status swiglu(const uint16_t* a, const uint16_t* b, uint16_t* out, int64_t n, stream_t stream);

// The prefill FFN's up projection with SwiGLU in its epilogue (kernels/gemm/gemm_wgmma.cu, sm_90a:
// TMA + wgmma): h bf16 [rows, F] = swiglu(bf16(x · w1ᵀ), bf16(x · w3ᵀ)) for x bf16 [rows, K] and
// w1, w3 bf16 [F, K] (row-major, rows of K elements); == two products into bf16 buffers then
// swiglu(), up to the order of the products' f32 sums and a fast f32 division in the SiLU.
// gemm_swiglu_supported: gemm_wgmma_enabled() (an sm_90a build on a compute capability 9.0 GPU with
// TMA, TOME_WGMMA_GEMM not 0), F % 128 == 0, K % 8 == 0, 16-byte aligned x, w1, w3 and h.
bool gemm_wgmma_enabled();
// Both GEMMs in clusters of two CTAs that multicast the B tile (TOME_GEMM_CLUSTER=1, off by
// default); returns the previous setting. The same results either way.
bool gemm_wgmma_clusters(bool on);
int gemm_wgmma_max_clusters();  // clusters of two that fit on this GPU at once (0: none / no sm_90a)
bool gemm_swiglu_supported(const uint16_t* x, const uint16_t* w1, const uint16_t* w3, const uint16_t* h, int64_t rows,
                           int64_t F, int64_t K);
status gemm_swiglu(const uint16_t* x, const uint16_t* w1, const uint16_t* w3, uint16_t* h, int64_t rows, int64_t F,
                   int64_t K, stream_t stream);

// The prefill's self-decoder projection with RoPE in its epilogue (kernels/gemm/gemm_wgmma.cu, the
// same sm_90a kernel with another epilogue): for w bf16 [parts * P, K], part p's rows pP..pP+P-1,
// y[p] bf16 [rows, P] = x · w_pᵀ; parts 0 and 1 (< rope_parts) as [rows, P / head_dim heads,
// head_dim] rotated at the positions of the cos/sin table cs (rope_cos_sin, one row a row of x),
// part 1 then scaled by k_scale: == the products into bf16 buffers then rope_qk (same roundings),
// up to the order of the products' f32 sums. Off unless TOME_WGMMA_ROPE=1 or gemm_rope_enable(true)
// (which returns the previous setting): on the H100 it is not yet faster than the unfused form.
// gemm_rope_supported: gemm_rope_enabled(),
// 1 <= parts <= 4, 0 <= rope_parts <= min(2, parts), P % 256 == 0, K % 8 == 0, head_dim a power of
// two <= 256 where rope_parts > 0, 16-byte aligned x, w, y[p] and cs.
bool gemm_rope_enable(bool on);
bool gemm_rope_enabled();  // the switch on and gemm_wgmma_enabled()
bool gemm_rope_supported(const uint16_t* x, const uint16_t* w, uint16_t* const* y, int parts, int64_t rows, int64_t P,
                         int64_t K, int rope_parts, int64_t head_dim, const float* cs);
status gemm_rope(const uint16_t* x, const uint16_t* w, uint16_t* const* y, int parts, int64_t rows, int64_t P,
                 int64_t K, int rope_parts, int64_t head_dim, const float* cs, float k_scale, stream_t stream);

// y[i] = bf16(scale * table[tokens[i]]) for table bf16 [vocab, dim]; ids outside [0, vocab) give
// zero rows (the engine validates ids before launching).
status embedding(const int32_t* tokens, int64_t n, const uint16_t* table, int64_t vocab,
                 int64_t dim, float scale, uint16_t* y, stream_t stream);

// Elementwise: x += y; x *= s; conversions (n elements).
status add(uint16_t* x, const uint16_t* y, int64_t n, stream_t stream);
status scale(uint16_t* x, float s, int64_t n, stream_t stream);
status bf16_to_f32(const uint16_t* x, float* y, int64_t n, stream_t stream);
status f32_to_bf16(const float* x, uint16_t* y, int64_t n, stream_t stream);

// Gated retention, recurrent form over `rows` tokens carrying state f32 [H, hd, hd] (in/out):
// q, k (scaled by hd^-0.5), v bf16 [rows, H, hd] post-RoPE; log_gamma f32 [rows, H];
// o bf16 [rows, H, hd]. head_dim <= 256.
status gated_retention(const uint16_t* q, const uint16_t* k, const uint16_t* v,
                       const float* log_gamma, float* state, uint16_t* o, int64_t rows,
                       int64_t heads, int64_t head_dim, stream_t stream);
// The chunkwise form of the same op, the kernel for prefill: bf16 tensor cores over chunks of 64
// rows, the state kept in f32 registers while a CTA walks a segment of rows; segments run in
// parallel (a state pass and a scan over segments give each its entering state). head_dim <= 128;
// fewer than 64 rows, head_dim % 8 != 0 or unaligned pointers take the recurrent kernel. Needs a
// workspace of gated_retention_chunked_workspace_floats(rows, heads, head_dim) floats (one f32
// state per segment and head, a few MiB; 0 when one segment suffices, workspace may then be
// null); a workspace sized for `rows` serves every call of at most `rows` rows.
int64_t gated_retention_chunked_workspace_floats(int64_t rows, int64_t heads, int64_t head_dim);
status gated_retention_chunked(const uint16_t* q, const uint16_t* k, const uint16_t* v,
                               const float* log_gamma, float* state, uint16_t* o, int64_t rows,
                               int64_t heads, int64_t head_dim, float* workspace, stream_t stream);
// log_gamma[i] = logsigmoid(gate_logits[i]) / temperature (f32 out).
status retention_log_gamma(const uint16_t* gate_logits, float* log_gamma, int64_t n,
                           float temperature, stream_t stream);
// o [rows, H, hd] <- rms_norm per head (no weight, eps) * silu(g), g bf16 [rows, H*hd].
status retention_output(uint16_t* o, const uint16_t* g, int64_t rows, int64_t heads,
                        int64_t head_dim, float eps, stream_t stream);

// Attention (kernels/attention/attention.cu; CPU twins cpu::sliding_window_attn, cpu::cross_attn).
// One op serves sliding-window self-attention, cross attention over the global KV and full causal
// GQA attention: q, o bf16 [rows, Hq, hd]; k, v bf16 [n, Hkv*hd]; query row r sees keys
// first(r)..last(r) with last(r) = first_key_offset + r (bottom-right alignment) and
// first(r) = max(0, last(r) - window + 1), window 0 = every key from 0. Query head h reads KV head
// h / (Hq/Hkv). Softmax scale 1/sqrt(hd); f32 softmax and accumulation; bf16 tensor cores for
// head_dim 16, 32, 64 and 128 (other head dims <= 256 run a slower generic kernel).
// Kernels: rows * (Hq/Hkv) <= 16 -> flash-decoding (one CTA per KV head and key split, all query
// heads of the group together, so each K/V row is read once); more rows -> FlashAttention-2 tiles
// of 64 (row, head) pairs per CTA. `splits` > 1 splits each key range over CTAs (the partials are
// merged by a combine kernel) and needs cross_attn_workspace_floats(rows, Hq, hd, splits) floats of
// workspace; attention_splits() is the split count that fills the GPU (what callers should pass).
#define TOME_KERNELS_ATTN_V2 1
// fp8_kv: the split count for attention_fp8 / cross_attn_fp8 (their many-row kernel fits two CTAs
// on an SM; the Hopper bf16 kernel one).
int attention_splits(int64_t rows, int64_t first_key_offset, int64_t n_heads, int64_t n_kv_heads,
                     int64_t head_dim, int64_t window, bool fp8_kv = false);
status attention(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o, int64_t rows,
                 int64_t first_key_offset, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                 int64_t window, int splits, float* workspace, stream_t stream);
// Hopper: with head_dim 128 and a bf16 KV, attention() calls that are not decode steps run an sm_90a
// kernel (kernels/attention/attention_wgmma.cu: TMA K/V tiles of 128 keys, wgmma products, two
// warpgroups taking turns) instead of the mma.sync tile kernel, where it is available: a build with
// sm_90a code, a compute capability 9.0 GPU, a driver with TMA. On by default; TOME_WGMMA_ATTN=0 or
// attention_use_wgmma(false) keeps the mma.sync kernel (A/B runs, and the op tests run both).
// attention_use_wgmma returns whether the kernel was enabled before, for the caller to restore.
bool attention_wgmma_available();
bool attention_wgmma_enabled();
bool attention_use_wgmma(bool on);

// Sliding-window attention, H heads (no GQA): keys/values are kv_k/kv_v [ring_rows + rows, H*hd]
// (the ring's rows, oldest first, then this chunk's); query r sees the `window` keys ending at
// index ring_rows + r. q, o bf16 [rows, H, hd]. head_dim <= 256. == attention(..., ring_rows,
// H, H, hd, window, 1 split); for decode steps call attention() with attention_splits() splits.
status sliding_window_attn(const uint16_t* q, const uint16_t* kv_k, const uint16_t* kv_v,
                           int64_t ring_rows, uint16_t* o, int64_t rows, int64_t heads,
                           int64_t head_dim, int64_t window, stream_t stream);

// Cross attention over the global KV: q [rows, Hq, hd] at positions pos0.., k/v [n, Hkv, hd];
// row r sees keys 0..pos0+r; GQA head h reads KV head h / (Hq/Hkv). == attention(..., pos0, ...,
// window 0, splits, workspace). cross_attn_splits = attention_splits(rows, pos0, ..., 0).
int64_t cross_attn_workspace_floats(int64_t rows, int64_t n_heads, int64_t head_dim, int splits);
int cross_attn_splits(int64_t rows, int64_t pos0, int64_t n_heads, int64_t n_kv_heads,
                      int64_t head_dim, bool fp8_kv = false);
status cross_attn(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o,
                  int64_t rows, int64_t pos0, int64_t n_heads, int64_t n_kv_heads,
                  int64_t head_dim, int splits, float* workspace, stream_t stream);

// Decode attention for CUDA-graph capture: the launch (grid Hkv x max_splits, then the combine)
// does not depend on the number of keys, which the kernel reads from device memory: *n_keys_dev = n
// keys are cached (0..n-1) and query row r of `rows` sees keys first(r)..n-rows+r (first as above
// with `window`). Splits that get no keys write empty partials. Needs rows * (Hq/Hkv) <= 16,
// head_dim 16/32/64/128 and cross_attn_workspace_floats(rows, Hq, hd, max_splits) floats of
// workspace; pass max_splits = attn_decode_max_splits(Hkv, hd) (one full wave of CTAs: 3 per SM
// at hd 128 on H100; more splits than that cost a second, latency-bound wave) for any n. The same
// captured graph then serves every step once *n_keys_dev is updated (e.g. by a device-side
// increment or a captured memcpy from pinned memory).
int attn_decode_max_splits(int64_t n_kv_heads, int64_t head_dim = 128);
status attn_decode_fixed(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o,
                         int64_t rows, const int64_t* n_keys_dev, int64_t n_heads,
                         int64_t n_kv_heads, int64_t head_dim, int64_t window, int max_splits,
                         float* workspace, stream_t stream);

// cross_attn_decode: the same for the engine's decode graph: one query row at position *pos (device
// memory) over keys 0..*pos; workspace cross_attn_decode_workspace_floats(Hq, hd, splits) floats.
// It (and its split merge) runs as a programmatic dependent launch on sm_90: kv_ready says that k,
// v and *pos were final before the kernel ahead of it started (true for the global KV during the
// cross layers, false for a ring that kernel writes), so the first K/V tile is requested while
// that kernel finishes; q is read only after it.
#define TOME_KERNELS_HAVE_CROSS_ATTN_DECODE 1
int64_t cross_attn_decode_workspace_floats(int64_t n_heads, int64_t head_dim, int splits);
status cross_attn_decode(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o,
                         const int64_t* pos, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                         int splits, float* workspace, stream_t stream, bool kv_ready = false);

// Attention mass of one query q [Hq, hd] (bf16, post-RoPE) over keys k [n_keys, Hkv*hd]:
// mass[j] = (1/Hq) sum_h softmax_j(q_h . k_j / sqrt(hd)), f32 [n_keys] on the device (sums to 1).
// workspace: attention_mass_workspace_floats(n_keys, n_heads) floats. With head_weights (f32
// [n_heads] on the device): mass[j] = sum_h w[h] softmax_j(...) instead (heads of weight 0 are
// skipped), added to what mass holds when `accumulate` (the pointer heads of several layers).
int64_t attention_mass_workspace_floats(int64_t n_keys, int64_t n_heads);
status attention_mass(const uint16_t* q, const uint16_t* k, int64_t n_keys, int64_t n_heads,
                      int64_t n_kv_heads, int64_t head_dim, float* mass, float* workspace,
                      stream_t stream, const float* head_weights = nullptr, bool accumulate = false);

// ---- fp8 global KV (kernels/kv_fp8/kv_fp8.cu, the fp8 paths of attention.cu, attention_mass.cu) ----
// The global KV may be kept in fp8 e4m3 (the "fn" variant: max 448, no infinities) with one f32
// scale per (token, KV head) for K and for V: values u8 [n, Hkv*hd], scales f32 [n, Hkv]. A head's
// row x (bf16) is stored as q = e4m3(x / s), s = kv_fp8_scale(max |x|) (round to nearest even,
// saturating; s = 0 for an all-zero row); its dequantised value is e4m3_value(q) * s (exact in f32:
// s has at most 16 significant bits), so quantising a dequantised row again gives the same q and s.
// The attention kernels convert each K/V tile's codes to bf16 in shared memory as it is loaded (exact:
// bf16 holds every e4m3 value) and apply the scales in f32, K's to the scores and V's to the
// softmax weights (which are rounded to bf16 for the PV product, as in the bf16 kernels). CPU twins: engine/src/backend/cpu/kv_fp8.h (cpu::kv_quantize_fp8, cpu::kv_dequantize_fp8).
#define TOME_KERNELS_HAVE_KV_FP8 1
struct kv_fp8 {
  const uint8_t* k = nullptr;
  const uint8_t* v = nullptr;
  const float* k_scale = nullptr;
  const float* v_scale = nullptr;
};
// x bf16 [rows, heads*hd] -> q u8 [rows, heads*hd], scale f32 [rows, heads] (the prefill's KV write,
// after the GEMM and RoPE; q and scale point at the first row's slot).
status kv_quantize_fp8(const uint16_t* x, int64_t rows, int64_t heads, int64_t head_dim, uint8_t* q,
                       float* scale, stream_t stream);
// The fp8 variant of rope_store_kv: one decode token's row p = *pos (device): K = RoPE(k) at position
// p (rounded to bf16 exactly as rope_store_kv does), V = v, both quantised into the fp8 KV.
status rope_store_kv_fp8(const uint16_t* k, const uint16_t* v, uint8_t* global_k, uint8_t* global_v,
                         float* k_scale, float* v_scale, int64_t kv_heads, int64_t head_dim,
                         const int64_t* pos, const float* inv_freq, stream_t stream);
// f32 [rows, heads*hd] = e4m3_value(q) * scale (export, tests).
status kv_dequantize_fp8(const uint8_t* q, const float* scale, int64_t rows, int64_t heads,
                         int64_t head_dim, float* out, stream_t stream);
// attention / cross_attn / attn_decode_fixed / cross_attn_decode over an fp8 KV: the same ops with
// K and V dequantised (to bf16) as their tiles are loaded. Head dims 16, 32, 64, 128 only (no
// generic-kernel fallback); same splits and workspace as the bf16 forms.
status attention_fp8(const uint16_t* q, kv_fp8 kv, uint16_t* o, int64_t rows, int64_t first_key_offset,
                     int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t window, int splits,
                     float* workspace, stream_t stream);
status cross_attn_fp8(const uint16_t* q, kv_fp8 kv, uint16_t* o, int64_t rows, int64_t pos0,
                      int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int splits, float* workspace,
                      stream_t stream);
status attn_decode_fixed_fp8(const uint16_t* q, kv_fp8 kv, uint16_t* o, int64_t rows,
                             const int64_t* n_keys_dev, int64_t n_heads, int64_t n_kv_heads,
                             int64_t head_dim, int64_t window, int max_splits, float* workspace,
                             stream_t stream);
status cross_attn_decode_fp8(const uint16_t* q, kv_fp8 kv, uint16_t* o, const int64_t* pos,
                             int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int splits,
                             float* workspace, stream_t stream, bool kv_ready = false);
// attention_mass over fp8 keys (k u8 [n, Hkv*hd], k_scale f32 [n, Hkv]), keys dequantised in f32.
status attention_mass_fp8(const uint16_t* q, const uint8_t* k, const float* k_scale, int64_t n_keys,
                          int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float* mass,
                          float* workspace, stream_t stream, const float* head_weights = nullptr,
                          bool accumulate = false);

// ---- Decode-step kernels (batch 1): bandwidth-bound GEMV and fused per-layer ops ----
// y[m, :] = x[m, :] · Wᵀ for m < rows (1..kGemvMaxRows): W bf16 [n, k] row-major (a Linear's
// weight), x bf16 [rows, k], y bf16 or f32 (y_f32) [rows, n]; f32 accumulation (CPU twin
// cpu::linear). One warp per weight row streaming W once at HBM speed; deterministic, and a row's
// result does not depend on n or on the rows around it (a concatenated q|k|v weight gives the bits
// of separate products). Needs k % 8 == 0, rows * k * 2 <= 48 KiB and 16-byte aligned W and x
// (gemv_supported says; callers fall back to cuBLAS otherwise).
#define TOME_KERNELS_HAVE_GEMV 1
constexpr int kGemvMaxRows = 4;
bool gemv_supported(const void* w, const void* x, int64_t rows, int64_t k);
status gemv(const uint16_t* w, const uint16_t* x, void* y, bool y_f32, int64_t rows, int64_t n, int64_t k,
            stream_t stream);
// The same with x = swiglu(a, b) computed on the fly (a, b rows at stride ab_stride, b 16-byte
// aligned): == swiglu() into a buffer, then gemv(), bit for bit. The FFN's down projection where
// the up projection did not apply SwiGLU (gemv_norm_swiglu below).
status gemv_swiglu(const uint16_t* w, const uint16_t* a, const uint16_t* b, int64_t ab_stride, void* y,
                   bool y_f32, int64_t rows, int64_t n, int64_t k, stream_t stream);
// The same with x = rms_norm(x + r) * norm_w computed on the fly (each CTA normalises the rows
// itself): == add_rms_norm(x, r, norm_w, xn) (r given) or rms_norm(x, norm_w, xn), then gemv() on
// xn, bit for bit (below 128 rows both norms take the block-per-row routine the GEMV takes).
// x_out (when given) receives x + r (or x), written by one CTA: the residual stream's next value;
// it must not overlap x or r (the other CTAs still read them). x, r and x_out rows at stride k;
// r, norm_w and x_out 16-byte aligned (nullptr: none). A decode step's norms need no launches.
#define TOME_KERNELS_HAVE_GEMV_NORM 1
// RoPE on a GEMV's outputs (gemv_norm's `rope`: the q, or q|k, of a decode step): outputs [0, rows)
// form heads of head_dim, pair (2i, 2i + 1) rotated by angle pos[m] * inv_freq[i mod head_dim/2]
// for input row m; outputs [scale_from, rows) then rounded to bf16 and scaled by k_scale (the
// gated-retention key scale). The bits of rope_qk_at / rope_qk_rows on the GEMV's bf16 output.
// rows even and <= n, head_dim even, y bf16; pos and inv_freq on the device.
struct gemv_rope {
  const int64_t* pos;
  const float* inv_freq;
  int64_t rows;
  int64_t scale_from;
  int64_t head_dim;
  float k_scale;
};
// How the norm prologue (gemv_norm, gemv_norm_swiglu, gemv_i8_norm) applies the row's 1/rms:
//   exact:  stages bf16(bf16(v * inv) * norm_w), v = x (+ r): the bits of add_rms_norm / rms_norm
//           then the GEMV. The products wait for the row's sum of squares (a CTA barrier and a
//           second pass over the staged row).
//   scaled: stages bf16(v * norm_w) and multiplies each output's f32 sum by inv = rsqrt(mean(v^2)
//           + eps) before its rounding and epilogue: y = inv * (W · bf16(v * norm_w)). The same
//           value in exact arithmetic with one bf16 rounding of the row instead of two, not the
//           same bits; the products start as soon as the row is staged. x_out as in exact.
#define TOME_KERNELS_HAVE_NORM_FORM 1
enum class norm_form { exact, scaled };
// Whether gemv_norm (int8: gemv_i8_norm) serves this product (as gemv_supported, with room for
// the norm's partial sums beside the staged rows: rows * k * 2 <= 47 KiB).
bool gemv_norm_supported(const void* w, const void* x, int64_t rows, int64_t k, bool int8);
status gemv_norm(const uint16_t* w, const uint16_t* x, const uint16_t* r, const uint16_t* norm_w, float eps,
                 uint16_t* x_out, void* y, bool y_f32, int64_t rows, int64_t n, int64_t k, stream_t stream,
                 const gemv_rope* rope = nullptr, norm_form form = norm_form::exact);
// The FFN's up projection with the SwiGLU in its epilogue: W = w1|w3 bf16 [n, k] (n even, F = n/2),
// h bf16 [rows, F] = swiglu(a, b) with a|b = gemv_norm(W) (x, r, norm_w, eps, x_out as gemv_norm):
// == gemv_norm into a bf16 [rows, n] buffer, then swiglu(a, b), bit for bit. A CTA pairs rows j
// and F + j, so the down projection stages h instead of computing SwiGLU in every CTA.
#define TOME_KERNELS_HAVE_GEMV_NORM_SWIGLU 1
status gemv_norm_swiglu(const uint16_t* w, const uint16_t* x, const uint16_t* r, const uint16_t* norm_w, float eps,
                        uint16_t* x_out, uint16_t* h, int64_t rows, int64_t n, int64_t k, stream_t stream,
                        norm_form form = norm_form::exact);

// ---- Int8 weight-only matrices (kernels/gemv/gemv_i8.cu) ----
// W[n, k] = scale[n] * q[n, k]: q int8 [n, k] row-major, scale f32 [n] (one per output row, the
// model format's I8 tensors). gemv_i8: y[m, :] = x[m, :] · Wᵀ for m < rows (1..kGemvMaxRows) as
// gemv (x bf16, y bf16 or f32, f32 accumulation of q · x, then the row scale: CPU twin
// cpu::linear_i8), half the bytes of the bf16 weight; deterministic, a row's result independent of
// the rows around it. Needs k % 16 == 0, rows * k * 2 <= 48 KiB, 16-byte aligned W and x
// (gemv_i8_supported says). gemv_i8_swiglu: x = swiglu(a, b) on the fly, as gemv_swiglu.
#define TOME_KERNELS_HAVE_GEMV_I8 1
bool gemv_i8_supported(const void* w, const void* x, int64_t rows, int64_t k);
status gemv_i8(const int8_t* w, const float* scale, const uint16_t* x, void* y, bool y_f32, int64_t rows, int64_t n,
               int64_t k, stream_t stream);
status gemv_i8_swiglu(const int8_t* w, const float* scale, const uint16_t* a, const uint16_t* b, int64_t ab_stride,
                      void* y, bool y_f32, int64_t rows, int64_t n, int64_t k, stream_t stream);
// gemv_i8 with the norm prologue of gemv_norm.
status gemv_i8_norm(const int8_t* w, const float* scale, const uint16_t* x, const uint16_t* r, const uint16_t* norm_w,
                    float eps, uint16_t* x_out, void* y, bool y_f32, int64_t rows, int64_t n, int64_t k,
                    stream_t stream, const gemv_rope* rope = nullptr, norm_form form = norm_form::exact);
// out bf16 [rows, cols] = bf16(scale[r] * q[r, c]) (prefill: a block of W for cuBLAS; CPU twin
// cpu::dequantize_i8 then a bf16 rounding).
status dequant_i8(const int8_t* q, const float* scale, uint16_t* out, int64_t rows, int64_t cols, stream_t stream);
// y[i] = bf16(scale * (row_scale[t] * q[t])) for t = tokens[i], q int8 [vocab, dim], row_scale f32
// [vocab]: the embedding of an int8 table (== embedding over the f32 dequantised table, rounded).
status embedding_i8(const int32_t* tokens, int64_t n, const int8_t* q, const float* row_scale, int64_t vocab,
                    int64_t dim, float scale, uint16_t* y, stream_t stream);

// RoPE on q and k (both [rows, heads, head_dim], rows at positions pos0..) in one launch, then
// k *= k_scale: == rope(q), rope(k), scale(k, k_scale) with the same bf16 roundings. rope_qk_at
// reads pos0 from device memory (decode graphs).
// The cos/sin table of rope_qk's angles: cs f32 [rows, head_dim / 2, 2] = (cos a, sin a) for
// a = f32(pos0 + row) * inv_freq[i], computed as rope_qk computes them (the same bits); 16-byte
// aligned. gemm_rope's epilogue reads it. CPU twin: cpu::rope's std::cos, std::sin of the same angle.
status rope_cos_sin(float* cs, int64_t rows, int64_t head_dim, int64_t pos0, const float* inv_freq,
                    stream_t stream);
status rope_qk(uint16_t* q, uint16_t* k, int64_t rows, int64_t heads, int64_t head_dim, int64_t pos0,
               const float* inv_freq, float k_scale, stream_t stream);
status rope_qk_at(uint16_t* q, uint16_t* k, int64_t rows, int64_t heads, int64_t head_dim, const int64_t* pos,
                  const float* inv_freq, float k_scale, stream_t stream);

// One token of gated retention fused with its gate and output stage: == retention_log_gamma(gt)
// + gated_retention (1 row) + retention_output, up to the f32 summation order of q·S. q, k
// (scaled, post-RoPE), v, g bf16 [H, hd]; gate_logits bf16 [H]; state f32 [H, hd, hd] updated in
// place (16-byte aligned); o bf16 [H, hd]. head_dim 16, 32, 64 or 128 (retention_decode_supported).
bool retention_decode_supported(int64_t head_dim);
status retention_decode(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* g,
                        const uint16_t* gate_logits, float* state, uint16_t* o, int64_t heads, int64_t head_dim,
                        float temperature, float eps, stream_t stream);

// ---- Batched decode: one step of several sessions (kernels over B rows, each its own session) ----
// Row b of a batched step belongs to session b: its own position pos[b] (device int64 [B]), its
// own global KV, retention state and last hidden row, named through device arrays of pointers (a
// captured graph then serves any sessions: only the arrays' contents change). Each op gives row b
// the bits its single-session form gives that session (the same code, the same roundings), except
// cross_attn_decode_batch, whose split count may differ (f32 summation order of the partials).
#define TOME_KERNELS_HAVE_DECODE_BATCH 1
// RoPE at per-row positions: row r of q at q + r*row_stride (elements), [heads, head_dim], rotated
// at position pos[r]; k likewise (same stride), then k *= k_scale, as rope_qk; k may be null (q
// only: == rope_at on that row). CPU twin: cpu::rope per row.
status rope_qk_rows(uint16_t* q, uint16_t* k, int64_t rows, int64_t row_stride, int64_t heads, int64_t head_dim,
                    const int64_t* pos, const float* inv_freq, float k_scale, stream_t stream);
// rope_store_kv for `rows` sessions: k, v bf16 [rows, kv_heads*head_dim]; row b goes to row pos[b]
// of global_k[b] / global_v[b] (device arrays of `rows` pointers, bf16 [capacity, kv_dim] each).
status rope_store_kv_rows(const uint16_t* k, const uint16_t* v, uint16_t* const* global_k,
                          uint16_t* const* global_v, int64_t rows, int64_t kv_heads, int64_t head_dim,
                          const int64_t* pos, const float* inv_freq, stream_t stream);
// The fp8 form (rope_store_kv_fp8 per row): codes and scales through arrays of `rows` pointers.
status rope_store_kv_fp8_rows(const uint16_t* k, const uint16_t* v, uint8_t* const* global_k,
                              uint8_t* const* global_v, float* const* k_scale, float* const* v_scale,
                              int64_t rows, int64_t kv_heads, int64_t head_dim, const int64_t* pos,
                              const float* inv_freq, stream_t stream);
// retention_decode for `rows` sessions: q, k, v, g, gate_logits of row r at + r*row_stride
// (elements; e.g. the q|k|v|g|gate product of a row), state of row r = states[r] (device array of
// pointers, f32 [H, hd, hd] each, updated in place), o bf16 [rows, H*hd].
status retention_decode_rows(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* g,
                             const uint16_t* gate_logits, int64_t row_stride, float* const* states, uint16_t* o,
                             int64_t rows, int64_t heads, int64_t head_dim, float temperature, float eps,
                             stream_t stream);
// Decode cross attention of `batch` sessions in one launch (grid Hkv x splits x batch): q, o bf16
// [batch, Hq, hd]; session b's query at position pos[b] sees keys 0..pos[b] of its own K/V.
struct kv_batch {
  const void* const* k = nullptr;  // device array [batch]: bf16 rows [n, Hkv*hd] (fp8: e4m3 bytes)
  const void* const* v = nullptr;
  const float* const* k_scale = nullptr;  // fp8 only: f32 [n, Hkv] per session
  const float* const* v_scale = nullptr;
  const int64_t* pos = nullptr;  // device int64 [batch]
  bool fp8 = false;
};
int cross_attn_decode_batch_splits(int64_t batch, int64_t n_kv_heads, int64_t head_dim);
int64_t cross_attn_decode_batch_workspace_floats(int64_t batch, int64_t n_heads, int64_t head_dim, int splits);
// kv_ready: as cross_attn_decode's (for every session's K/V and position).
status cross_attn_decode_batch(const uint16_t* q, const kv_batch& kv, uint16_t* o, int64_t batch, int64_t n_heads,
                               int64_t n_kv_heads, int64_t head_dim, int splits, float* workspace, stream_t stream,
                               bool kv_ready = false);
// dst[r][0..dim) = x[r, 0..dim) for r < rows (dst: device array of `rows` pointers): each
// session's last hidden row.
status copy_rows_to(const uint16_t* x, int64_t rows, int64_t dim, uint16_t* const* dst, stream_t stream);

// ---- Sampling on the device (kernels/sampling) ----
// Greedy: out[r] = the index of the largest value of logits row r (f32 [rows, n]), NaN ignored,
// ties to the lowest index, 0 when all are NaN: tome::sampler's choice at temperature 0 without
// a repetition penalty (its twin; tests/kernels/test_batch_kernels.cpp compares them).
status argmax_rows(const float* logits, int64_t rows, int64_t n, int32_t* out, stream_t stream);
// Pre-selection for a sampled step: per row, the repetition penalty on the row's ids
// penalized[offsets[r], offsets[r + 1]) (sorted, distinct, at most kSelectMaxPenalized; offsets
// nullptr = none; v / penalty if v > 0 else v * penalty), then the k (1..kSelectMaxK) entries
// first in tome::sampler's total order (larger value, then lower id; NaN and -inf never), in id
// order: out_value / out_id [rows, k], out_count[r] = how many were written (min(k, valid)),
// out_valid[r] = the row's entries neither NaN nor -inf. Many CTAs a row: slices of at most
// kSelectMaxLen entries, then merges of their lists (select_candidates.cu); the workspace takes
// select_candidates_workspace_bytes(rows, n, k) bytes (0 where one CTA takes a row: n <= 8192,
// and then workspace may be nullptr). At most 65,535 rows. Twin: tome::select_candidates (tests/kernels/test_select_candidates.cpp
// compares them).
inline constexpr int kSelectMaxPenalized = 4096;
inline constexpr int kSelectMaxLen = 16384;
inline constexpr int kSelectMaxK = kSelectMaxLen / 2;
size_t select_candidates_workspace_bytes(int64_t rows, int64_t n, int k);
status select_candidates_rows(const float* logits, int64_t rows, int64_t n, const int32_t* penalized,
                              const int32_t* penalized_offsets, float penalty, int k, float* out_value,
                              int32_t* out_id, int32_t* out_count, int32_t* out_valid, void* workspace,
                              size_t workspace_bytes, stream_t stream);

}  // namespace tome::kernels
