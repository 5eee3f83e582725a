// Ops: the one dispatch point between the layer programs and the kernels. A program calls ops on
// tensors; the implementation for its device (CpuOps now, GpuOps later) checks shapes, builds the
// kernel's params struct and launches it. Programs never know where they run.
// Optional tensors (biases, residuals, position tables) are passed as empty Tensors.
#pragma once

#include <cstdint>

#include "runtime/base/kernel_params.h"
#include "runtime/core/tensor.h"

namespace alisa {

struct SamplingSettings {
  float temperature = 0.0f;  // 0: greedy
  int32_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off
};

// One layer's Sparse Window Attention state for a batch, on the device that attends it
// (kernel_params.h gives the rules; runtime/swa.h plans the steps). Empty `sequences`: dense.
struct SwaState {
  Tensor sequences;    // [batch, kSwaSequenceFields] i32: the step's SwaSequence per sequence
  Tensor score;        // [batch, groups, capacity] f32; empty for SwaScore::kRecent
  Tensor ring_index;   // [batch, groups, window_rows, row_capacity] i32 (kWindow)
  Tensor ring_weight;  // like ring_index, f32 (kWindow)
  Tensor ring_count;   // [batch, window_rows] i32 (kWindow)
  Tensor selected;     // [batch, groups, max_selected] i32: the step's token sets (scratch)
  Tensor probs;        // [batch, n_heads, max_selected] f32: their weights (scratch)
  // Phase III: K and V of the selected tokens below `recomputed_below`, recomputed this step,
  // [batch, max_rows, n_kv_heads, head_dim] (empty: none; SparseAttentionParams).
  Tensor recomputed_k, recomputed_v;
  int64_t recomputed_below = 0;
  SwaScore mode = SwaScore::kWindow;
  float gamma = 1.0f;  // kDecay's factor; 1 for the other modes
  bool active() const { return !sequences.empty(); }
  bool scored() const { return mode != SwaScore::kRecent; }
};

class Ops {
 public:
  virtual ~Ops() = default;

  // out[i] = table[token_ids[i]] (+ position_table[position_ids[i]]).
  virtual void embedding(const Tensor& token_ids, const Tensor& table, const Tensor& position_ids,
                         const Tensor& position_table, const Tensor& out) = 0;
  // out = norm(x + residual) * weight (+ bias); residual_out (if given) receives x + residual.
  virtual void layer_norm(const Tensor& x, const Tensor& residual, const Tensor& residual_out,
                          const Tensor& weight, const Tensor& bias, float eps,
                          const Tensor& out) = 0;
  virtual void rms_norm(const Tensor& x, const Tensor& residual, const Tensor& residual_out,
                        const Tensor& weight, float eps, const Tensor& out) = 0;
  // y = x W^T + bias; x [m, k] (rows may be strided), W [n, k], y [m, n].
  virtual void linear(const Tensor& x, const Tensor& weight, const Tensor& bias,
                      const Tensor& y) = 0;
  // out = act(x) (* up).
  virtual void activation(const Tensor& x, const Tensor& up, Activation activation,
                          const Tensor& out) = 0;
  virtual void add(const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // x [n_tokens, n_heads, head_dim] rotated in place at position_ids [n_tokens].
  virtual void rotary(const Tensor& x, const Tensor& position_ids, const Tensor& inv_freq) = 0;
  // q [batch, n_q, n_heads, head_dim]; k, v [batch, n_kv_tokens, n_kv_heads, head_dim] (cache
  // views); key_mask [batch, n_kv_tokens]; out like q. Causal from cache index q_start.
  virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                         int64_t q_start, float scale, const Tensor& out) = 0;
  // dst = src, same shape and dtype, any strides (within one device).
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;
  // dst = src converted to dst's dtype; both contiguous with the same number of elements.
  virtual void convert(const Tensor& src, const Tensor& dst) = 0;
  // One token per row of logits [batch, vocab] into tokens [batch] (int32).
  virtual void sample(const Tensor& logits, const Tensor& rng_keys, uint64_t step,
                      const SamplingSettings& settings, const Tensor& tokens) = 0;
  // Compressed weights and KV cache (format: QuantizeInt4Params / QuantizeInt8Params).
  // int4 weights, groups of kInt4Group: packed u8 [ceil(n / 2)], scale and min f16 [n_groups],
  // out contiguous with n values, f16 or f32.
  virtual void dequantize_int4(const Tensor& packed, const Tensor& scale, const Tensor& min,
                               const Tensor& out) = 0;
  // int8 rows: x [rows, row_len] (f16 or f32, rows may be strided); q u8 [rows, row_len], scale
  // and zero f16 [rows], all contiguous.
  virtual void quantize_int8_rows(const Tensor& x, const Tensor& q, const Tensor& scale,
                                  const Tensor& zero) = 0;
  // out [rows, row_len] (f16 or f32, rows may be strided) from q, scale and zero as above.
  virtual void dequantize_int8_rows(const Tensor& q, const Tensor& scale, const Tensor& zero,
                                    const Tensor& out) = 0;
  // Sparse Window Attention, one decode step: the token sets into swa.selected (SwaSelectParams),
  // attention over them for q [batch, 1, n_heads, head_dim] into out like q, the weights into
  // swa.probs (SparseAttentionParams), then the score update (SwaScoreUpdateParams). k, v are
  // the layer's cache [batch, >= first + n, n_kv_heads, head_dim].
  virtual void swa_select(const SwaState& swa) = 0;
  virtual void sparse_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                const SwaState& swa, float scale, const Tensor& out) = 0;
  virtual void swa_update_score(const SwaState& swa) = 0;
  // The prefill's initial score from its queries q [batch, n_q, n_heads, head_dim] and the cache
  // k (SwaPrefillScoreParams).
  virtual void swa_prefill_score(const Tensor& q, const Tensor& k, const SwaState& swa,
                                 float scale) = 0;
  // Phase III: the kept hidden states [batch, below, hidden] of the selected tokens below
  // `below` into rows [batch, max_rows, hidden] with their positions [batch, max_rows] i32
  // (SwaGatherHiddenParams).
  virtual void swa_gather_hidden(const Tensor& hidden, const SwaState& swa, int32_t position_offset,
                                 const Tensor& rows, const Tensor& positions) = 0;
};

// Every op of Ops as a backend declares it (CpuOps, GpuOps): one list for all of them.
#define ALISA_OPS_OVERRIDES                                                                     \
  void embedding(const Tensor& token_ids, const Tensor& table, const Tensor& position_ids,      \
                 const Tensor& position_table, const Tensor& out) override;                     \
  void layer_norm(const Tensor& x, const Tensor& residual, const Tensor& residual_out,          \
                  const Tensor& weight, const Tensor& bias, float eps, const Tensor& out)       \
      override;                                                                                 \
  void rms_norm(const Tensor& x, const Tensor& residual, const Tensor& residual_out,            \
                const Tensor& weight, float eps, const Tensor& out) override;                   \
  void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y)       \
      override;                                                                                 \
  void activation(const Tensor& x, const Tensor& up, Activation activation, const Tensor& out)  \
      override;                                                                                 \
  void add(const Tensor& a, const Tensor& b, const Tensor& out) override;                       \
  void rotary(const Tensor& x, const Tensor& position_ids, const Tensor& inv_freq) override;    \
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,     \
                 int64_t q_start, float scale, const Tensor& out) override;                     \
  void copy(const Tensor& src, const Tensor& dst) override;                                     \
  void convert(const Tensor& src, const Tensor& dst) override;                                  \
  void sample(const Tensor& logits, const Tensor& rng_keys, uint64_t step,                      \
              const SamplingSettings& settings, const Tensor& tokens) override;                 \
  void dequantize_int4(const Tensor& packed, const Tensor& scale, const Tensor& min,            \
                       const Tensor& out) override;                                             \
  void quantize_int8_rows(const Tensor& x, const Tensor& q, const Tensor& scale,                \
                          const Tensor& zero) override;                                         \
  void dequantize_int8_rows(const Tensor& q, const Tensor& scale, const Tensor& zero,           \
                            const Tensor& out) override;                                        \
  void swa_select(const SwaState& swa) override;                                                \
  void sparse_attention(const Tensor& q, const Tensor& k, const Tensor& v, const SwaState& swa, \
                        float scale, const Tensor& out) override;                               \
  void swa_update_score(const SwaState& swa) override;                                          \
  void swa_prefill_score(const Tensor& q, const Tensor& k, const SwaState& swa, float scale)    \
      override;                                                                                 \
  void swa_gather_hidden(const Tensor& hidden, const SwaState& swa, int32_t position_offset,    \
                         const Tensor& rows, const Tensor& positions) override;

// Params builders shared by every Ops implementation: they check shapes and dtypes (a mismatch is
// a bug in a program, so ALISA_ASSERT) and fill the kernel's params struct.
EmbeddingParams embedding_params(const Tensor& token_ids, const Tensor& table,
                                 const Tensor& position_ids, const Tensor& position_table,
                                 const Tensor& out);
NormParams norm_params(const Tensor& x, const Tensor& residual, const Tensor& residual_out,
                       const Tensor& weight, const Tensor& bias, float eps, const Tensor& out);
LinearParams linear_params(const Tensor& x, const Tensor& weight, const Tensor& bias,
                           const Tensor& y);
ActivationParams activation_params(const Tensor& x, const Tensor& up, Activation activation,
                                   const Tensor& out);
AddParams add_params(const Tensor& a, const Tensor& b, const Tensor& out);
ConvertParams convert_params(const Tensor& src, const Tensor& dst);
RotaryParams rotary_params(const Tensor& x, const Tensor& position_ids, const Tensor& inv_freq);
AttentionParams attention_params(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& key_mask, int64_t q_start, float scale,
                                 const Tensor& out);
// A same-device strided copy as rows of contiguous bytes: for each of n_outer blocks (outer
// strides in bytes), n_rows rows of row_bytes, src_pitch / dst_pitch bytes apart. Dimensions
// that are contiguous in both tensors are merged into the row.
struct CopyPlan {
  const char* src = nullptr;
  char* dst = nullptr;
  size_t row_bytes = 0;
  int64_t n_rows = 1;
  size_t src_pitch = 0, dst_pitch = 0;
  int64_t n_outer[2] = {1, 1};
  size_t src_outer_stride[2] = {0, 0}, dst_outer_stride[2] = {0, 0};

  // Calls f(src, dst) for the first row of every block.
  template <typename F>
  void for_each_block(F&& f) const {
    for (int64_t i = 0; i < n_outer[0]; ++i) {
      for (int64_t j = 0; j < n_outer[1]; ++j) {
        f(src + i * src_outer_stride[0] + j * src_outer_stride[1],
          dst + i * dst_outer_stride[0] + j * dst_outer_stride[1]);
      }
    }
  }
};
CopyPlan copy_plan(const Tensor& src, const Tensor& dst);

SamplingParams sampling_params(const Tensor& logits, const Tensor& rng_keys, uint64_t step,
                               const SamplingSettings& settings, const Tensor& tokens);

// int4 groups of kInt4Group; x contiguous (f32 or f16), the rest as for Ops::dequantize_int4.
QuantizeInt4Params quantize_int4_params(const Tensor& x, const Tensor& packed, const Tensor& scale,
                                        const Tensor& min);
DequantizeInt4Params dequantize_int4_params(const Tensor& packed, const Tensor& scale,
                                            const Tensor& min, const Tensor& out);
QuantizeInt8Params quantize_int8_params(const Tensor& x, const Tensor& q, const Tensor& scale,
                                        const Tensor& zero);
DequantizeInt8Params dequantize_int8_params(const Tensor& q, const Tensor& scale,
                                            const Tensor& zero, const Tensor& out);
SwaSelectParams swa_select_params(const SwaState& swa);
SparseAttentionParams sparse_attention_params(const Tensor& q, const Tensor& k, const Tensor& v,
                                              const SwaState& swa, float scale, const Tensor& out);
SwaScoreUpdateParams swa_score_update_params(const SwaState& swa);
SwaPrefillScoreParams swa_prefill_score_params(const Tensor& q, const Tensor& k,
                                               const SwaState& swa, float scale);
SwaGatherHiddenParams swa_gather_hidden_params(const Tensor& hidden, const SwaState& swa,
                                               int32_t position_offset, const Tensor& rows,
                                               const Tensor& positions);

}  // namespace alisa
