// Parameter structs of every kernel, shared by kernels_cpu and kernels_gpu. Raw pointers, sizes
// and strides only: kernels never see runtime tensors or configs. Strides count elements.
// Activation pointers are `void*` with a dtype: the CPU kernels take float32, the GPU kernels
// float16 (and float32 where a test needs it).
#pragma once

#include <cstdint>

#include "runtime/base/dtype.h"

namespace alisa {

// out[i, :] = table[token_ids[i], :] (+ position_table[position_ids[i], :] when given).
struct EmbeddingParams {
  const int32_t* token_ids = nullptr;     // [n_tokens]
  const void* table = nullptr;            // [vocab_size, dim]
  const int32_t* position_ids = nullptr;  // [n_tokens], optional (learned positions)
  const void* position_table = nullptr;   // [n_positions, dim], optional
  void* out = nullptr;                    // [n_tokens, dim]
  int64_t n_tokens = 0;
  int64_t vocab_size = 0;
  int64_t n_positions = 0;
  int64_t dim = 0;
  DType dtype = DType::kF32;  // of table, position_table and out
};

// LayerNorm (weight and bias) or RMSNorm (weight only) over the last dimension.
// When `residual` is given the normalised input is x + residual, and `residual_out` (if given)
// receives that sum: the pre-norm transformer's "add, then normalise" in one pass.
struct NormParams {
  const void* x = nullptr;         // [n_rows, dim]
  const void* residual = nullptr;  // [n_rows, dim], optional
  void* residual_out = nullptr;    // [n_rows, dim], optional; may alias x or residual
  const void* weight = nullptr;    // [dim]
  const void* bias = nullptr;      // [dim], LayerNorm only, optional
  void* out = nullptr;             // [n_rows, dim]; may alias x or residual
  int64_t n_rows = 0;
  int64_t dim = 0;
  float eps = 1e-5f;
  DType dtype = DType::kF32;
};

// y = x W^T + bias, with W in Hugging Face layout [n, k] (out_features, in_features).
struct LinearParams {
  const void* x = nullptr;       // [m, k], rows x_row_stride apart
  const void* weight = nullptr;  // [n, k]
  const void* bias = nullptr;    // [n], optional
  void* y = nullptr;             // [m, n], contiguous
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  int64_t x_row_stride = 0;          // 0 means k
  DType dtype = DType::kF32;         // of x, bias and y
  DType weight_dtype = DType::kF32;  // of weight
};

enum class Activation : uint8_t { kRelu, kGelu, kGeluTanh, kSilu };

// out = act(x), or out = act(x) * up when `up` is given (SwiGLU / GeGLU), elementwise.
struct ActivationParams {
  const void* x = nullptr;   // [n]
  const void* up = nullptr;  // [n], optional
  void* out = nullptr;       // [n]; may alias x
  int64_t n = 0;
  Activation activation = Activation::kRelu;
  DType dtype = DType::kF32;
};

// out = a + b, elementwise.
struct AddParams {
  const void* a = nullptr;  // [n]
  const void* b = nullptr;  // [n]
  void* out = nullptr;      // [n]; may alias a or b
  int64_t n = 0;
  DType dtype = DType::kF32;
};

// out = x converted elementwise between floating types (f32, f16, bf16).
struct ConvertParams {
  const void* x = nullptr;  // [n]
  void* out = nullptr;      // [n]
  int64_t n = 0;
  DType x_dtype = DType::kF32;
  DType out_dtype = DType::kF32;
};

// Rotary position embedding in place, Hugging Face's rotate_half convention: for each head,
// pairs (x[i], x[i + rotary_dim/2]) for i < rotary_dim/2 are rotated by position * inv_freq[i].
// Dimensions from rotary_dim to head_dim are left as they are.
struct RotaryParams {
  void* x = nullptr;  // [n_tokens, n_heads, head_dim], tokens token_stride apart
  const int32_t* position_ids = nullptr;  // [n_tokens]
  const float* inv_freq = nullptr;        // [rotary_dim / 2]
  int64_t n_tokens = 0;
  int64_t n_heads = 0;
  int64_t head_dim = 0;
  int64_t rotary_dim = 0;
  int64_t token_stride = 0;  // 0 means n_heads * head_dim
  DType dtype = DType::kF32;
};

// dst row r = src row r for n_rows rows of row_bytes, src_pitch / dst_pitch bytes apart: a
// strided copy by the compute device itself (either side may be mapped host memory).
struct CopyRowsParams {
  const void* src = nullptr;
  void* dst = nullptr;
  size_t row_bytes = 0;
  int64_t n_rows = 0;
  size_t src_pitch = 0;
  size_t dst_pitch = 0;
};

// Causal multi-head attention with grouped-query heads and a key padding mask, over a KV cache.
// Query i of a sequence sits at cache index q_start + i and attends the keys at cache indices
// [0, q_start + i] whose mask is 1. out = softmax(scale * q K^T) V per head; query head h uses
// KV head h / (n_heads / n_kv_heads). A query with no visible key gets zeros.
struct AttentionParams {
  const void* q = nullptr;            // [batch, n_q, n_heads, head_dim]
  const void* k = nullptr;            // [batch, n_kv_tokens, n_kv_heads, head_dim]
  const void* v = nullptr;            // [batch, n_kv_tokens, n_kv_heads, head_dim]
  const uint8_t* key_mask = nullptr;  // [batch, n_kv_tokens], 1 = real token
  void* out = nullptr;                // [batch, n_q, n_heads, head_dim]
  int64_t batch = 0;
  int64_t n_q = 0;
  int64_t n_kv_tokens = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t q_start = 0;
  // Strides in elements; the innermost (head_dim) stride is 1 and heads are head_dim apart.
  int64_t q_batch_stride = 0, q_token_stride = 0;
  int64_t kv_batch_stride = 0, kv_token_stride = 0;
  int64_t out_batch_stride = 0, out_token_stride = 0;
  int64_t mask_batch_stride = 0;
  float scale = 1.0f;
  DType dtype = DType::kF32;     // of q and out
  DType kv_dtype = DType::kF32;  // of k and v
};

// Sparse Window Attention (../shared/design/SWA.md; runtime/swa.h plans the steps). Each sequence
// holds its real tokens at cache indices [first, first + n); one decode step attends `total` of
// them: the `local` most recent and the total - local older ones of highest score S, ties to the
// lower index (total == local == n: dense). S is kept per (sequence, group); groups is 1 (one set
// per layer, S summed over heads) or n_heads (one set per head).
enum class SwaScore : uint8_t {
  kWindow,   // S = weights summed over the last W steps (a ring of the steps' rows)
  kDecay,    // S = gamma * S + row
  kHistory,  // S = every step's row summed (H2O-like baseline; gamma = 1)
  kRecent,   // no score: all `total` tokens are the most recent (recent-window baseline)
};

// One sequence's step, the same for every layer; int32 fields so kernels read it as an array.
struct SwaSequence {
  int32_t first = 0;         // cache index of the first real token
  int32_t n = 0;             // real tokens, the step's included
  int32_t local = 0;         // the most recent tokens always attended
  int32_t total = 0;         // tokens attended (local + global)
  int32_t write_row = -1;    // kWindow: ring row that receives this step's row (-1: none)
  int32_t drop_row = -1;     // kWindow: ring row leaving the window first (-1: none)
  int32_t prefill_rows = 0;  // prefill: the last this-many query rows initialise S
  int32_t reserved = 0;
};
constexpr int64_t kSwaSequenceFields = 8;
static_assert(sizeof(SwaSequence) == kSwaSequenceFields * sizeof(int32_t));

// selected[b, g, :total] = the step's token set, ascending cache indices: the top total - local of
// [first, first + n - local) by score[b, g, :], then [first + n - local, first + n).
struct SwaSelectParams {
  const float* score = nullptr;            // [batch, groups, capacity]; null for kRecent
  const SwaSequence* sequences = nullptr;  // [batch]
  int32_t* selected = nullptr;             // [batch, groups, max_selected]
  int64_t batch = 0;
  int64_t groups = 1;
  int64_t capacity = 0;
  int64_t max_selected = 0;
};

// One query per sequence over its selected tokens: out = softmax(scale q K_I^T) V_I per head
// (query head h reads KV head h / (n_heads / n_kv_heads) and selection row h when groups ==
// n_heads, else row 0), and probs[b, h, j] = the weight of selected token j. A sequence that
// selects nothing gets zeros.
struct SparseAttentionParams {
  const void* q = nullptr;            // [batch, n_heads, head_dim], sequences q_batch_stride apart
  const void* k = nullptr;            // [batch, capacity, n_kv_heads, head_dim]
  const void* v = nullptr;            // like k
  const int32_t* selected = nullptr;  // [batch, groups, max_selected]
  const SwaSequence* sequences = nullptr;  // [batch]
  void* out = nullptr;                     // [batch, n_heads, head_dim], out_batch_stride apart
  float* probs = nullptr;                  // [batch, n_heads, max_selected]
  int64_t batch = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t groups = 1;
  int64_t capacity = 0;
  int64_t max_selected = 0;
  int64_t q_batch_stride = 0, out_batch_stride = 0;
  int64_t kv_batch_stride = 0, kv_token_stride = 0;
  // Phase III: a selected token j whose cache index is below `recomputed_below` is read from
  // k_recomputed / v_recomputed [batch, >= j + 1, n_kv_heads, head_dim] (kv_dtype) at row j
  // instead: its K and V recomputed for this step. 0: none.
  const void* k_recomputed = nullptr;
  const void* v_recomputed = nullptr;
  int64_t recomputed_below = 0;
  int64_t recomputed_batch_stride = 0, recomputed_token_stride = 0;
  float scale = 1.0f;
  DType dtype = DType::kF32;     // of q and out
  DType kv_dtype = DType::kF32;  // of k and v
};

// Phase III: the layer-input hidden states of the selected tokens kept as hidden states (cache
// index below `below`), for their K and V to be recomputed. For sequence b, row j < max_rows:
// rows[b, j] = hidden[b, selected[b, 0, j]] and positions[b, j] = selected - first +
// position_offset when j < total and selected[b, 0, j] < below; else zeros and position_offset.
// Selected sets are ascending, so the kept ones are a prefix; at most max_rows of them.
struct SwaGatherHiddenParams {
  const void* hidden = nullptr;            // [batch, below, hidden_dim], strides below
  const int32_t* selected = nullptr;       // [batch, 1, max_selected]
  const SwaSequence* sequences = nullptr;  // [batch]
  void* rows = nullptr;                    // [batch, max_rows, hidden_dim]
  int32_t* positions = nullptr;            // [batch, max_rows]
  int64_t batch = 0;
  int64_t max_selected = 0;
  int64_t max_rows = 0;
  int64_t hidden_dim = 0;
  int64_t below = 0;
  int64_t hidden_batch_stride = 0, hidden_token_stride = 0;
  int32_t position_offset = 0;
  DType dtype = DType::kF32;  // of hidden and rows
};

// After a decode step: row[j] = sum of probs[b, h, j] over the heads of group g (in head order);
// kWindow: S -= ring row drop_row (which then counts 0), S[selected[j]] += row[j], and the row
// becomes ring row write_row; kDecay: S[first, first + n) *= gamma, then += row; kHistory: += row.
struct SwaScoreUpdateParams {
  const float* probs = nullptr;            // [batch, n_heads, max_selected]
  const int32_t* selected = nullptr;       // [batch, groups, max_selected]
  const SwaSequence* sequences = nullptr;  // [batch]
  float* score = nullptr;                  // [batch, groups, capacity]
  int32_t* ring_index = nullptr;           // kWindow: [batch, groups, window_rows, row_capacity]
  float* ring_weight = nullptr;            // kWindow: like ring_index
  int32_t* ring_count = nullptr;           // kWindow: [batch, window_rows]
  int64_t batch = 0;
  int64_t groups = 1;
  int64_t n_heads = 0;
  int64_t capacity = 0;
  int64_t max_selected = 0;
  int64_t window_rows = 0;
  int64_t row_capacity = 0;
  SwaScore mode = SwaScore::kWindow;
  float gamma = 1.0f;
};

// The prefill's initial S (the prompt at cache indices [0, n_q), its real tokens [first, n_q)):
// S[b, g, :] = 0, then for each of the last prefill_rows query rows i, in order, the causal
// attention weights of query i over keys [first, i], summed over the heads of group g, are added;
// kWindow also resets the ring and stores those rows as rows write_row, write_row + 1, ... (mod
// window_rows).
struct SwaPrefillScoreParams {
  const void* q = nullptr;                 // [batch, n_q, n_heads, head_dim]
  const void* k = nullptr;                 // [batch, capacity, n_kv_heads, head_dim]
  const SwaSequence* sequences = nullptr;  // [batch]
  float* score = nullptr;                  // [batch, groups, capacity]
  int32_t* ring_index = nullptr;           // as SwaScoreUpdateParams (kWindow)
  float* ring_weight = nullptr;
  int32_t* ring_count = nullptr;
  int64_t batch = 0;
  int64_t n_q = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t groups = 1;
  int64_t capacity = 0;
  int64_t window_rows = 0;
  int64_t row_capacity = 0;
  int64_t q_batch_stride = 0, q_token_stride = 0;
  int64_t kv_batch_stride = 0, kv_token_stride = 0;
  float scale = 1.0f;
  SwaScore mode = SwaScore::kWindow;
  DType dtype = DType::kF32;     // of q
  DType kv_dtype = DType::kF32;  // of k
};

// Picks one token per row of logits. temperature == 0: greedy (the lowest index among equal
// maxima). Otherwise logits / temperature, then top-k (0: off), then top-p (1: off; the smallest
// set of most likely tokens whose probability reaches top_p, always at least one; ties at the
// cut are kept), then a draw: u = counter_uniform(rng_keys[row], step), and the token is the first
// kept index, in increasing token order, at which the cumulative kept probability exceeds
// u * (total kept probability). The same seed gives the same tokens whatever the batch
// composition or device.
struct SamplingParams {
  const float* logits = nullptr;       // [batch, vocab], rows logits_row_stride apart
  const uint64_t* rng_keys = nullptr;  // [batch], needed when temperature > 0
  int32_t* out_tokens = nullptr;       // [batch]
  int64_t batch = 0;
  int64_t vocab = 0;
  int64_t logits_row_stride = 0;  // 0 means vocab
  uint64_t step = 0;
  float temperature = 0.0f;
  int32_t top_k = 0;
  float top_p = 1.0f;
};

// A uniform number in [0, 1) from a 64-bit key and a counter (SplitMix64 finaliser over both):
// stateless, so CPU and GPU samplers draw the same numbers.
#if defined(__CUDACC__)
__host__ __device__
#endif
    inline float
    counter_uniform(uint64_t key, uint64_t counter) {
  uint64_t z = key + 0x9e3779b97f4a7c15ull * (counter + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z = z ^ (z >> 31);
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // 24 random bits
}

// Group-wise int4 weights (FlexGen's compression): the flat array of n values is cut into groups
// of `group` consecutive values (the last may be shorter). Per group, with s = f16((max - min) /
// 15) and m = f16(min) read back as floats: q = clamp(rint((x - m) / s), 0, 15) (0 when s == 0),
// two per byte, element 2i in the low nibble. Dequantised: fmaf(q, s, m) rounded to the output
// dtype, the same bits on CPU and GPU. NaN inputs are left out of min / max and get q = 0.
constexpr int64_t kInt4Group = 64;  // FlexGen's group size

constexpr int64_t int4_packed_bytes(int64_t n) {
  return (n + 1) / 2;
}
constexpr int64_t int4_n_groups(int64_t n, int64_t group) {
  return (n + group - 1) / group;
}

struct QuantizeInt4Params {
  const void* x = nullptr;      // [n]
  DType x_dtype = DType::kF32;  // f32, f16 or bf16
  uint8_t* packed = nullptr;    // [ceil(n / 2)]
  uint16_t* scale = nullptr;    // [ceil(n / group)], f16 bits
  uint16_t* min = nullptr;      // [ceil(n / group)], f16 bits
  int64_t n = 0;
  int64_t group = kInt4Group;
};

struct DequantizeInt4Params {
  const uint8_t* packed = nullptr;  // [ceil(n / 2)]
  const uint16_t* scale = nullptr;  // [ceil(n / group)], f16 bits
  const uint16_t* min = nullptr;    // [ceil(n / group)], f16 bits
  void* out = nullptr;              // [n]
  DType out_dtype = DType::kF32;    // f32, f16 or bf16
  int64_t n = 0;
  int64_t group = kInt4Group;
};

// Per-row int8 KV cache (a row is one token of one KV head): as int4 with 255 steps and one
// group per row; zero = f16(row min). x and out rows may be strided; q, scale, zero are dense.
struct QuantizeInt8Params {
  const void* x = nullptr;      // [n_rows, row_len], rows x_row_stride apart
  DType x_dtype = DType::kF32;  // f32, f16 or bf16
  uint8_t* q = nullptr;         // [n_rows, row_len]
  uint16_t* scale = nullptr;    // [n_rows], f16 bits
  uint16_t* zero = nullptr;     // [n_rows], f16 bits
  int64_t n_rows = 0;
  int64_t row_len = 0;
  int64_t x_row_stride = 0;  // 0 means row_len
};

struct DequantizeInt8Params {
  const uint8_t* q = nullptr;       // [n_rows, row_len]
  const uint16_t* scale = nullptr;  // [n_rows], f16 bits
  const uint16_t* zero = nullptr;   // [n_rows], f16 bits
  void* out = nullptr;              // [n_rows, row_len], rows out_row_stride apart
  DType out_dtype = DType::kF32;    // f32, f16 or bf16
  int64_t n_rows = 0;
  int64_t row_len = 0;
  int64_t out_row_stride = 0;  // 0 means row_len
};

}  // namespace alisa
