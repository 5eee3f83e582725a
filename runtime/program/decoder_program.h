// The decoder, written once against Ops for every supported family: OPT (LayerNorm, learned
// positions, ReLU MLP, optional post-LN and embedding projections) and LLaMA's layout (RMSNorm,
// rotary embeddings, SwiGLU, grouped-query attention), which Mistral, Qwen2 (q/k/v biases, none on
// o) and Qwen3 (per-head q and k norms) share. The spec's flags select the variant; the program
// never knows which device runs it, never allocates and never moves data between tiers: the
// caller (the engine now, the scheduler later) hands it weights, cache views and scratch.
#pragma once

#include <cstdint>

#include "runtime/core/tensor.h"
#include "runtime/model/model_spec.h"
#include "runtime/model/weights.h"
#include "runtime/ops/ops.h"

namespace alisa {

// The tokens of one forward call of one batch: n_new tokens per sequence, stored into the cache
// at indices [past, past + n_new). A prefill attends densely (and initialises Sparse Window
// Attention's score); it starts at past 0, except a prompt that refills a finished sequence's row
// (BlockRunner's lanes), which ends under the block's write index.
struct StepBatch {
  int64_t batch = 0;
  int64_t n_new = 0;
  int64_t past = 0;
  bool prefill = false;
  Tensor token_ids;     // [batch * n_new] i32
  Tensor position_ids;  // [batch * n_new] i32: index into the position encoding (HF position
                        // + spec.position_offset)
  Tensor key_mask;      // [batch, >= past + n_new] u8: 1 where the cache holds a real token
};

// Sparse window attention's Phase III: the cache's positions [0, below) hold the layer's input
// hidden states, not K and V; the selected ones get theirs recomputed each step.
struct KvRecompute {
  int64_t below = 0;
  Tensor hidden;     // [batch, below, hidden_size]: the kept input hidden states
  Tensor rows;       // [batch, max_rows, hidden_size] scratch: the selected ones gathered
  Tensor normed;     // [batch * max_rows, hidden_size] scratch
  Tensor k, v;       // [batch * max_rows, kv_dim] scratch: their K and V
  Tensor positions;  // [batch * max_rows] i32 scratch
  const LayerWeights* weights = nullptr;  // the layer's
  bool active() const { return below > 0; }
};

// The cache of one layer for the batch: [batch, capacity, n_kv_heads, head_dim] each, its
// Sparse Window Attention state (inactive: dense attention) and Phase III part.
struct KvLayerView {
  Tensor k;
  Tensor v;
  SwaState swa;
  KvRecompute recompute;
};

// Intermediate tensors of one forward call, sized for up to max_tokens tokens.
struct DecoderScratch {
  Tensor normed;     // [max_tokens, hidden]
  Tensor q;          // [max_tokens, q_dim]
  Tensor k;          // [max_tokens, kv_dim]
  Tensor v;          // [max_tokens, kv_dim]
  Tensor attention;  // [max_tokens, q_dim]
  Tensor mlp_a;      // [max_tokens, ffn]
  Tensor mlp_b;      // [max_tokens, ffn] (gated MLPs)
  Tensor out;        // [max_tokens, hidden]
  Tensor embed;      // [max_tokens, embed_dim] (when embed_dim != hidden)
  Tensor inv_freq;   // [head_dim / 2] f32 (rotary models)
  int64_t max_tokens = 0;
};

class DecoderProgram {
 public:
  explicit DecoderProgram(const ModelSpec& spec) : spec_(spec) {}

  // Every tensor the scratch holds, allocated on `device` in `dtype` (the Buffers go to `owner`).
  DecoderScratch allocate_scratch(Device& device, DType dtype, int64_t max_tokens,
                                  std::vector<Buffer>& owner) const;

  // hidden [batch * n_new, hidden] = embeddings of the step's tokens.
  void embed(const GlobalWeights& w, const StepBatch& step, const DecoderScratch& scratch,
             const Tensor& hidden, Ops& ops) const;
  // One decoder layer, updating hidden in place and storing the new K/V into the cache: the
  // three parts below in order. The offloading schedule runs them apart when the attention runs
  // on the CPU next to a CPU-resident cache.
  void layer(const LayerWeights& w, const KvLayerView& cache, const StepBatch& step,
             const DecoderScratch& scratch, const Tensor& hidden, Ops& ops) const;
  // scratch.q, .k, .v = the step's projected (and rotated) queries, keys and values.
  void layer_qkv(const LayerWeights& w, const StepBatch& step, const DecoderScratch& scratch,
                 const Tensor& hidden, Ops& ops) const;
  // Stores scratch.k, .v into the cache and attends: scratch.attention. With SWA, a prefill
  // (past == 0) attends densely and initialises the score; a decode step attends the selected
  // tokens and updates the score.
  void layer_attend(const KvLayerView& cache, const StepBatch& step, const DecoderScratch& scratch,
                    Ops& ops) const;
  // hidden += output projection and MLP.
  void layer_rest(const LayerWeights& w, const StepBatch& step, const DecoderScratch& scratch,
                  const Tensor& hidden, Ops& ops) const;
  // logits [rows, vocab] (f32) for hidden rows [rows, hidden] (contiguous; overwritten). When
  // activations are not f32 the head computes into `staging` ([rows, vocab], activation dtype)
  // and converts.
  void head(const GlobalWeights& w, const Tensor& rows, const DecoderScratch& scratch,
            const Tensor& staging, const Tensor& logits, Ops& ops) const;

 private:
  void norm(const Tensor& x, const Tensor& residual, const Tensor& residual_out,
            const Tensor& weight, const Tensor& bias, const Tensor& out, Ops& ops) const;
  // Qwen3's q_norm / k_norm: x [tokens, heads * head_dim] normalised per head, in place.
  void head_norm(const Tensor& x, const Tensor& weight, Ops& ops) const;
  // Phase III: K and V of the selected tokens kept as hidden states (norm, K/V projections,
  // rotary embedding at their positions); `swa` with them attached.
  SwaState recompute_kv(const KvRecompute& r, const SwaState& swa, const DecoderScratch& scratch,
                        Ops& ops) const;

  const ModelSpec& spec_;
};

}  // namespace alisa
