#include "runtime/program/decoder_program.h"

#include <cmath>

#include "runtime/core/owned_buffers.h"
#include "runtime/tiers/copy_engine.h"

namespace alisa {
namespace {

Tensor rows_of(const Tensor& t, int64_t n) {
  return t.slice(0, 0, n);
}

}  // namespace

DecoderScratch DecoderProgram::allocate_scratch(Device& device, DType dtype, int64_t max_tokens,
                                                std::vector<Buffer>& owner) const {
  auto make = [&](int64_t cols, const char* what) {
    return owned_tensor(owner, device, dtype, {max_tokens, cols}, what);
  };
  DecoderScratch s;
  s.max_tokens = max_tokens;
  s.normed = make(spec_.hidden_size, "scratch normed");
  s.q = make(spec_.q_dim(), "scratch q");
  s.k = make(spec_.kv_dim(), "scratch k");
  s.v = make(spec_.kv_dim(), "scratch v");
  s.attention = make(spec_.q_dim(), "scratch attention");
  s.mlp_a = make(spec_.ffn_dim, "scratch mlp");
  if (spec_.gated_mlp) s.mlp_b = make(spec_.ffn_dim, "scratch mlp up");
  s.out = make(spec_.hidden_size, "scratch out");
  if (spec_.embed_dim() != spec_.hidden_size) s.embed = make(spec_.embed_dim(), "scratch embed");
  if (!spec_.rope_inv_freq.empty()) {
    const int64_t n = static_cast<int64_t>(spec_.rope_inv_freq.size());
    OwnedTensor owned = allocate_tensor(device, DType::kF32, {n}, "rotary frequencies");
    copy_host_to_device(owned.tensor, spec_.rope_inv_freq.data());
    owner.push_back(std::move(owned.buffer));
    s.inv_freq = owned.tensor;
  }
  return s;
}

void DecoderProgram::norm(const Tensor& x, const Tensor& residual, const Tensor& residual_out,
                          const Tensor& weight, const Tensor& bias, const Tensor& out,
                          Ops& ops) const {
  if (spec_.norm == NormKind::kLayerNorm) {
    ops.layer_norm(x, residual, residual_out, weight, bias, spec_.norm_eps, out);
  } else {
    ops.rms_norm(x, residual, residual_out, weight, spec_.norm_eps, out);
  }
}

void DecoderProgram::head_norm(const Tensor& x, const Tensor& weight, Ops& ops) const {
  // An RMSNorm over rows of head_dim: [tokens, heads * head_dim] as [tokens * heads, head_dim].
  const Tensor rows = x.reshape({x.numel() / spec_.head_dim, spec_.head_dim});
  ops.rms_norm(rows, Tensor(), Tensor(), weight, spec_.norm_eps, rows);
}

void DecoderProgram::embed(const GlobalWeights& w, const StepBatch& step,
                           const DecoderScratch& scratch, const Tensor& hidden, Ops& ops) const {
  const int64_t n = step.batch * step.n_new;
  const bool projected = spec_.embed_dim() != spec_.hidden_size;
  // OPT adds the learned positions after project_in; without a projection they fuse.
  const Tensor token_out = projected ? rows_of(scratch.embed, n) : hidden;
  const Tensor no_tensor;
  ops.embedding(step.token_ids, w.token_embedding, projected ? no_tensor : step.position_ids,
                projected ? no_tensor : w.position_embedding, token_out);
  if (projected) {
    ops.linear(token_out, w.project_in, no_tensor, hidden);
    if (spec_.learned_positions) {
      ops.embedding(step.position_ids, w.position_embedding, no_tensor, no_tensor,
                    rows_of(scratch.out, n));
      ops.add(hidden, rows_of(scratch.out, n), hidden);
    }
  }
}

void DecoderProgram::layer(const LayerWeights& w, const KvLayerView& cache, const StepBatch& step,
                           const DecoderScratch& scratch, const Tensor& hidden, Ops& ops) const {
  layer_qkv(w, step, scratch, hidden, ops);
  layer_attend(cache, step, scratch, ops);
  layer_rest(w, step, scratch, hidden, ops);
}

void DecoderProgram::layer_qkv(const LayerWeights& w, const StepBatch& step,
                               const DecoderScratch& scratch, const Tensor& hidden,
                               Ops& ops) const {
  const int64_t n = step.batch * step.n_new;
  ALISA_ASSERT(n <= scratch.max_tokens, "step of ", n, " tokens > scratch ", scratch.max_tokens);
  const Tensor none;
  const Tensor normed = rows_of(scratch.normed, n);
  const Tensor q = rows_of(scratch.q, n);
  const Tensor k = rows_of(scratch.k, n);
  const Tensor v = rows_of(scratch.v, n);
  const int64_t hd = spec_.head_dim;
  const Tensor& attention_input = spec_.norm_before ? normed : hidden;
  if (spec_.norm_before)
    norm(hidden, none, none, w.attn_norm_weight, w.attn_norm_bias, normed, ops);
  ops.linear(attention_input, w.q_weight, w.q_bias, q);
  ops.linear(attention_input, w.k_weight, w.k_bias, k);
  ops.linear(attention_input, w.v_weight, w.v_bias, v);
  if (spec_.qk_norm) {
    head_norm(q, w.q_norm_weight, ops);
    head_norm(k, w.k_norm_weight, ops);
  }
  if (!scratch.inv_freq.empty()) {
    ops.rotary(q.reshape({n, spec_.n_heads, hd}), step.position_ids, scratch.inv_freq);
    ops.rotary(k.reshape({n, spec_.n_kv_heads, hd}), step.position_ids, scratch.inv_freq);
  }
}

void DecoderProgram::layer_attend(const KvLayerView& cache, const StepBatch& step,
                                  const DecoderScratch& scratch, Ops& ops) const {
  const int64_t n = step.batch * step.n_new;
  const int64_t hd = spec_.head_dim;
  const int64_t end = step.past + step.n_new;
  const Tensor k_new =
      rows_of(scratch.k, n).reshape({step.batch, step.n_new, spec_.n_kv_heads, hd});
  const Tensor v_new =
      rows_of(scratch.v, n).reshape({step.batch, step.n_new, spec_.n_kv_heads, hd});
  ops.copy(k_new, cache.k.slice(1, step.past, end));
  ops.copy(v_new, cache.v.slice(1, step.past, end));
  const Tensor q = rows_of(scratch.q, n).reshape({step.batch, step.n_new, spec_.n_heads, hd});
  const Tensor out =
      rows_of(scratch.attention, n).reshape({step.batch, step.n_new, spec_.n_heads, hd});
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const SwaState& swa = cache.swa;
  if (swa.active() && !step.prefill) {
    ALISA_ASSERT(step.n_new == 1, "SWA decodes one token per step, not ", step.n_new);
    ops.swa_select(swa);
    const SwaState attended =
        cache.recompute.active() ? recompute_kv(cache.recompute, swa, scratch, ops) : swa;
    ops.sparse_attention(q, cache.k.slice(1, 0, end), cache.v.slice(1, 0, end), attended, scale,
                         out);
    if (swa.scored()) ops.swa_update_score(swa);
    return;
  }
  ops.attention(q, cache.k.slice(1, 0, end), cache.v.slice(1, 0, end), step.key_mask, step.past,
                scale, out);
  if (swa.active() && swa.scored()) ops.swa_prefill_score(q, cache.k.slice(1, 0, end), swa, scale);
}

SwaState DecoderProgram::recompute_kv(const KvRecompute& r, const SwaState& swa,
                                      const DecoderScratch& scratch, Ops& ops) const {
  ALISA_ASSERT(r.weights != nullptr, "Phase III without the layer's weights");
  const LayerWeights& w = *r.weights;
  const int64_t batch = r.rows.size(0), max_rows = r.rows.size(1), n = batch * max_rows;
  const int64_t hd = spec_.head_dim;
  ops.swa_gather_hidden(r.hidden, swa, static_cast<int32_t>(spec_.position_offset), r.rows,
                        r.positions);
  const Tensor rows = r.rows.reshape({n, spec_.hidden_size});
  const Tensor none;
  if (spec_.norm_before) {
    norm(rows, none, none, w.attn_norm_weight, w.attn_norm_bias, r.normed, ops);
  }
  const Tensor& input = spec_.norm_before ? r.normed : rows;
  ops.linear(input, w.k_weight, w.k_bias, r.k);
  ops.linear(input, w.v_weight, w.v_bias, r.v);
  if (spec_.qk_norm) head_norm(r.k, w.k_norm_weight, ops);
  if (!scratch.inv_freq.empty()) {
    ops.rotary(r.k.reshape({n, spec_.n_kv_heads, hd}), r.positions, scratch.inv_freq);
  }
  SwaState attended = swa;
  attended.recomputed_k = r.k.reshape({batch, max_rows, spec_.n_kv_heads, hd});
  attended.recomputed_v = r.v.reshape({batch, max_rows, spec_.n_kv_heads, hd});
  attended.recomputed_below = r.below;
  return attended;
}

void DecoderProgram::layer_rest(const LayerWeights& w, const StepBatch& step,
                                const DecoderScratch& scratch, const Tensor& hidden,
                                Ops& ops) const {
  const int64_t n = step.batch * step.n_new;
  const Tensor none;
  const Tensor normed = rows_of(scratch.normed, n);
  const Tensor attention = rows_of(scratch.attention, n);
  const Tensor out = rows_of(scratch.out, n);
  ops.linear(attention, w.o_weight, w.o_bias, out);

  // hidden += attention output, then the MLP's input: pre-norm normalises the sum, post-norm
  // (OPT-350m) replaces hidden by the normalised sum.
  if (spec_.norm_before) {
    norm(out, hidden, hidden, w.mlp_norm_weight, w.mlp_norm_bias, normed, ops);
  } else {
    norm(out, hidden, none, w.attn_norm_weight, w.attn_norm_bias, hidden, ops);
  }
  const Tensor& mlp_input = spec_.norm_before ? normed : hidden;
  const Tensor mlp_a = rows_of(scratch.mlp_a, n);
  if (spec_.gated_mlp) {
    const Tensor mlp_b = rows_of(scratch.mlp_b, n);
    ops.linear(mlp_input, w.gate_weight, w.gate_bias, mlp_a);
    ops.linear(mlp_input, w.up_weight, w.up_bias, mlp_b);
    ops.activation(mlp_a, mlp_b, spec_.activation, mlp_a);
  } else {
    ops.linear(mlp_input, w.up_weight, w.up_bias, mlp_a);
    ops.activation(mlp_a, none, spec_.activation, mlp_a);
  }
  ops.linear(mlp_a, w.down_weight, w.down_bias, out);
  if (spec_.norm_before) {
    ops.add(hidden, out, hidden);
  } else {
    norm(out, hidden, none, w.mlp_norm_weight, w.mlp_norm_bias, hidden, ops);
  }
}

void DecoderProgram::head(const GlobalWeights& w, const Tensor& rows, const DecoderScratch& scratch,
                          const Tensor& staging, const Tensor& logits, Ops& ops) const {
  const Tensor none;
  if (spec_.final_norm) norm(rows, none, none, w.final_norm_weight, w.final_norm_bias, rows, ops);
  const bool direct = logits.dtype() == rows.dtype();
  ALISA_ASSERT(direct || staging.numel() == logits.numel(), "head needs a staging tensor");
  const Tensor& out = direct ? logits : staging;
  if (spec_.embed_dim() != spec_.hidden_size) {
    const Tensor projected = rows_of(scratch.embed, rows.size(0));
    ops.linear(rows, w.project_out, none, projected);
    ops.linear(projected, w.lm_head, none, out);
  } else {
    ops.linear(rows, w.lm_head, none, out);
  }
  if (!direct) ops.convert(staging, logits);
}

}  // namespace alisa
