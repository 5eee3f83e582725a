// Tensor -> kernel params: the shape and dtype checks every backend shares.
#include <algorithm>
#include <vector>

#include "runtime/ops/ops.h"

namespace alisa {
namespace {

void check_rows(const Tensor& t, int64_t rows, int64_t cols, DType dtype, const char* what) {
  ALISA_ASSERT(!t.empty() && t.numel() == rows * cols && t.is_contiguous() && t.dtype() == dtype,
               what, " ", t.shape_string(), " ", dtype_name(t.dtype()), ", expected ", rows, "x",
               cols, " ", dtype_name(dtype));
}

const void* optional_data(const Tensor& t) {
  return t.empty() ? nullptr : t.data();
}

}  // namespace

EmbeddingParams embedding_params(const Tensor& token_ids, const Tensor& table,
                                 const Tensor& position_ids, const Tensor& position_table,
                                 const Tensor& out) {
  const int64_t n_tokens = token_ids.numel();
  const int64_t dim = table.size(1);
  ALISA_ASSERT(token_ids.dtype() == DType::kI32 && token_ids.is_contiguous(), "token ids");
  check_rows(out, n_tokens, dim, table.dtype(), "embedding out");
  EmbeddingParams p{.token_ids = token_ids.data_as<int32_t>(),
                    .table = table.data(),
                    .out = out.data(),
                    .n_tokens = n_tokens,
                    .vocab_size = table.size(0),
                    .dim = dim,
                    .dtype = table.dtype()};
  if (!position_table.empty()) {
    ALISA_ASSERT(position_ids.numel() == n_tokens && position_ids.dtype() == DType::kI32 &&
                     position_table.size(1) == dim && position_table.dtype() == table.dtype(),
                 "position embedding");
    p.position_ids = position_ids.data_as<int32_t>();
    p.position_table = position_table.data();
    p.n_positions = position_table.size(0);
  }
  return p;
}

NormParams norm_params(const Tensor& x, const Tensor& residual, const Tensor& residual_out,
                       const Tensor& weight, const Tensor& bias, float eps, const Tensor& out) {
  const int64_t dim = weight.numel();
  const int64_t n_rows = x.numel() / dim;
  check_rows(x, n_rows, dim, x.dtype(), "norm x");
  check_rows(out, n_rows, dim, x.dtype(), "norm out");
  if (!residual.empty()) check_rows(residual, n_rows, dim, x.dtype(), "norm residual");
  if (!residual_out.empty()) check_rows(residual_out, n_rows, dim, x.dtype(), "norm residual_out");
  if (!bias.empty()) ALISA_ASSERT(bias.numel() == dim, "norm bias");
  return NormParams{.x = x.data(),
                    .residual = optional_data(residual),
                    .residual_out = residual_out.empty() ? nullptr : residual_out.data(),
                    .weight = weight.data(),
                    .bias = optional_data(bias),
                    .out = out.data(),
                    .n_rows = n_rows,
                    .dim = dim,
                    .eps = eps,
                    .dtype = x.dtype()};
}

LinearParams linear_params(const Tensor& x, const Tensor& weight, const Tensor& bias,
                           const Tensor& y) {
  ALISA_ASSERT(x.rank() == 2 && x.stride(1) == 1,
               "linear x must be [m, k] with unit column stride, got ", x.shape_string());
  ALISA_ASSERT(weight.rank() == 2 && weight.is_contiguous(), "linear weight ",
               weight.shape_string());
  const int64_t m = x.size(0), k = x.size(1), n = weight.size(0);
  ALISA_ASSERT(weight.size(1) == k, "linear: x ", x.shape_string(), " weight ",
               weight.shape_string());
  check_rows(y, m, n, x.dtype(), "linear y");
  if (!bias.empty()) ALISA_ASSERT(bias.numel() == n && bias.dtype() == x.dtype(), "linear bias");
  return LinearParams{.x = x.data(),
                      .weight = weight.data(),
                      .bias = optional_data(bias),
                      .y = y.data(),
                      .m = m,
                      .n = n,
                      .k = k,
                      .x_row_stride = x.stride(0),
                      .dtype = x.dtype(),
                      .weight_dtype = weight.dtype()};
}

ActivationParams activation_params(const Tensor& x, const Tensor& up, Activation activation,
                                   const Tensor& out) {
  const int64_t n = x.numel();
  check_rows(x, n, 1, x.dtype(), "activation x");
  check_rows(out, n, 1, x.dtype(), "activation out");
  if (!up.empty()) check_rows(up, n, 1, x.dtype(), "activation up");
  return ActivationParams{.x = x.data(),
                          .up = optional_data(up),
                          .out = out.data(),
                          .n = n,
                          .activation = activation,
                          .dtype = x.dtype()};
}

AddParams add_params(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = a.numel();
  check_rows(a, n, 1, a.dtype(), "add a");
  check_rows(b, n, 1, a.dtype(), "add b");
  check_rows(out, n, 1, a.dtype(), "add out");
  return AddParams{.a = a.data(), .b = b.data(), .out = out.data(), .n = n, .dtype = a.dtype()};
}

ConvertParams convert_params(const Tensor& src, const Tensor& dst) {
  ALISA_ASSERT(src.is_contiguous() && dst.is_contiguous() && src.numel() == dst.numel(), "convert ",
               src.shape_string(), " -> ", dst.shape_string());
  return ConvertParams{.x = src.data(),
                       .out = dst.data(),
                       .n = src.numel(),
                       .x_dtype = src.dtype(),
                       .out_dtype = dst.dtype()};
}

RotaryParams rotary_params(const Tensor& x, const Tensor& position_ids, const Tensor& inv_freq) {
  ALISA_ASSERT(x.rank() == 3 && x.stride(2) == 1 && x.stride(1) == x.size(2),
               "rotary x must be [n_tokens, n_heads, head_dim] with packed heads, got ",
               x.shape_string());
  ALISA_ASSERT(position_ids.numel() == x.size(0) && position_ids.dtype() == DType::kI32,
               "rotary positions");
  ALISA_ASSERT(inv_freq.dtype() == DType::kF32 && 2 * inv_freq.numel() <= x.size(2),
               "rotary inv_freq");
  return RotaryParams{.x = x.data(),
                      .position_ids = position_ids.data_as<int32_t>(),
                      .inv_freq = inv_freq.data_as<float>(),
                      .n_tokens = x.size(0),
                      .n_heads = x.size(1),
                      .head_dim = x.size(2),
                      .rotary_dim = 2 * inv_freq.numel(),
                      .token_stride = x.stride(0),
                      .dtype = x.dtype()};
}

AttentionParams attention_params(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& key_mask, int64_t q_start, float scale,
                                 const Tensor& out) {
  ALISA_ASSERT(q.rank() == 4 && k.rank() == 4 && v.rank() == 4 && out.rank() == 4,
               "attention tensors are [batch, tokens, heads, head_dim]");
  const int64_t batch = q.size(0), n_q = q.size(1), n_heads = q.size(2), head_dim = q.size(3);
  const int64_t n_kv = k.size(1), n_kv_heads = k.size(2);
  ALISA_ASSERT(k.size(0) == batch && k.size(3) == head_dim && n_heads % n_kv_heads == 0,
               "attention k ", k.shape_string(), " for q ", q.shape_string());
  ALISA_ASSERT(v.size(0) == batch && v.size(1) == n_kv && v.size(2) == n_kv_heads &&
                   v.size(3) == head_dim && v.stride(0) == k.stride(0) &&
                   v.stride(1) == k.stride(1),
               "attention v ", v.shape_string(), " must match k ", k.shape_string());
  ALISA_ASSERT(out.size(0) == batch && out.size(1) == n_q && out.size(2) == n_heads &&
                   out.size(3) == head_dim,
               "attention out ", out.shape_string());
  for (const Tensor* t : {&q, &k, &v, &out}) {
    ALISA_ASSERT(t->stride(3) == 1 && t->stride(2) == head_dim, "attention heads must be packed");
  }
  ALISA_ASSERT(key_mask.rank() == 2 && key_mask.size(0) == batch && key_mask.size(1) >= n_kv &&
                   key_mask.dtype() == DType::kU8 && key_mask.stride(1) == 1,
               "attention key_mask ", key_mask.shape_string());
  ALISA_ASSERT(q_start >= 0 && q_start + n_q <= n_kv, "attention q_start ", q_start, " + ", n_q,
               " > ", n_kv, " keys");
  return AttentionParams{.q = q.data(),
                         .k = k.data(),
                         .v = v.data(),
                         .key_mask = key_mask.data_as<uint8_t>(),
                         .out = out.data(),
                         .batch = batch,
                         .n_q = n_q,
                         .n_kv_tokens = n_kv,
                         .n_heads = n_heads,
                         .n_kv_heads = n_kv_heads,
                         .head_dim = head_dim,
                         .q_start = q_start,
                         .q_batch_stride = q.stride(0),
                         .q_token_stride = q.stride(1),
                         .kv_batch_stride = k.stride(0),
                         .kv_token_stride = k.stride(1),
                         .out_batch_stride = out.stride(0),
                         .out_token_stride = out.stride(1),
                         .mask_batch_stride = key_mask.stride(0),
                         .scale = scale,
                         .dtype = q.dtype(),
                         .kv_dtype = k.dtype()};
}

CopyPlan copy_plan(const Tensor& src, const Tensor& dst) {
  ALISA_ASSERT(src.rank() == dst.rank() && src.dtype() == dst.dtype(), "copy ", src.shape_string(),
               " -> ", dst.shape_string());
  for (int d = 0; d < src.rank(); ++d) {
    ALISA_ASSERT(src.size(d) == dst.size(d), "copy ", src.shape_string(), " -> ",
                 dst.shape_string());
  }
  const size_t element = dtype_size(src.dtype());
  // Dimensions of size 1 move nothing whatever their strides (a decode step's one new token in
  // a token-major cache): dropped, so that they split no copy into one launch per row.
  struct Dim {
    int64_t size, src_stride, dst_stride;
  };
  std::vector<Dim> dims;
  for (int d = 0; d < src.rank(); ++d) {
    if (src.size(d) != 1 || d == src.rank() - 1) {
      dims.push_back({src.size(d), src.stride(d), dst.stride(d)});
    }
  }
  // Merge trailing dimensions while both tensors are contiguous over them.
  int inner = static_cast<int>(dims.size()) - 1;
  ALISA_ASSERT(dims[static_cast<size_t>(inner)].size == 1 ||
                   (dims[static_cast<size_t>(inner)].src_stride == 1 &&
                    dims[static_cast<size_t>(inner)].dst_stride == 1),
               "copy needs unit inner stride");
  int64_t row_elements = dims[static_cast<size_t>(inner)].size;
  while (inner > 0 && dims[static_cast<size_t>(inner - 1)].src_stride == row_elements &&
         dims[static_cast<size_t>(inner - 1)].dst_stride == row_elements) {
    --inner;
    row_elements *= dims[static_cast<size_t>(inner)].size;
  }
  CopyPlan plan;
  plan.src = static_cast<const char*>(src.data());
  plan.dst = static_cast<char*>(dst.data());
  plan.row_bytes = static_cast<size_t>(row_elements) * element;
  // Up to three outer dimensions remain: the innermost of them becomes the rows, the others
  // (at most two, right-aligned into n_outer) the blocks.
  for (int d = 0; d < inner; ++d) {
    const Dim& dim = dims[static_cast<size_t>(d)];
    const size_t src_stride = static_cast<size_t>(dim.src_stride) * element;
    const size_t dst_stride = static_cast<size_t>(dim.dst_stride) * element;
    if (d == inner - 1) {
      plan.n_rows = dim.size;
      plan.src_pitch = src_stride;
      plan.dst_pitch = dst_stride;
    } else {
      const int slot = d - (inner - 1) + 2;
      ALISA_ASSERT(slot >= 0, "copy of rank > 4");
      plan.n_outer[slot] = dim.size;
      plan.src_outer_stride[slot] = src_stride;
      plan.dst_outer_stride[slot] = dst_stride;
    }
  }
  if (plan.n_rows == 1) plan.src_pitch = plan.dst_pitch = plan.row_bytes;
  return plan;
}

SamplingParams sampling_params(const Tensor& logits, const Tensor& rng_keys, uint64_t step,
                               const SamplingSettings& settings, const Tensor& tokens) {
  ALISA_ASSERT(logits.rank() == 2 && logits.dtype() == DType::kF32 && logits.stride(1) == 1,
               "logits ", logits.shape_string());
  const int64_t batch = logits.size(0);
  ALISA_ASSERT(tokens.numel() == batch && tokens.dtype() == DType::kI32, "sampled tokens");
  ALISA_ASSERT(settings.temperature == 0.0f || rng_keys.numel() == batch, "rng keys");
  return SamplingParams{.logits = logits.data_as<float>(),
                        .rng_keys = rng_keys.empty() ? nullptr : rng_keys.data_as<uint64_t>(),
                        .out_tokens = tokens.data_as<int32_t>(),
                        .batch = batch,
                        .vocab = logits.size(1),
                        .logits_row_stride = logits.stride(0),
                        .step = step,
                        .temperature = settings.temperature,
                        .top_k = settings.top_k,
                        .top_p = settings.top_p};
}

namespace {

bool is_float(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16;
}

// scale and min (or zero): f16, contiguous, n values each.
void check_affine(const Tensor& scale, const Tensor& min, int64_t n, const char* what) {
  for (const Tensor* t : {&scale, &min}) {
    ALISA_ASSERT(!t->empty() && t->dtype() == DType::kF16 && t->is_contiguous() && t->numel() == n,
                 what, " scale / min ", t->shape_string(), " ", dtype_name(t->dtype()),
                 ", expected ", n, " contiguous f16");
  }
}

void check_int4(const Tensor& values, const Tensor& packed, const Tensor& scale, const Tensor& min,
                const char* what) {
  const int64_t n = values.numel();
  ALISA_ASSERT(!values.empty() && values.is_contiguous() && is_float(values.dtype()), what, " ",
               values.shape_string(), " ", dtype_name(values.dtype()),
               ": contiguous f16, bf16 or f32 expected");
  check_rows(packed, int4_packed_bytes(n), 1, DType::kU8, what);
  check_affine(scale, min, int4_n_groups(n, kInt4Group), what);
}

// [rows, row_len] with unit column stride: rows may be strided.
void check_row_view(const Tensor& t, const char* what) {
  ALISA_ASSERT(!t.empty() && t.rank() == 2 && t.stride(1) == 1 && t.stride(0) >= t.size(1) &&
                   is_float(t.dtype()),
               what, " must be f16, bf16 or f32 [rows, row_len] with unit column stride, got ",
               t.shape_string(), " ", dtype_name(t.dtype()));
}

}  // namespace

QuantizeInt4Params quantize_int4_params(const Tensor& x, const Tensor& packed, const Tensor& scale,
                                        const Tensor& min) {
  check_int4(x, packed, scale, min, "quantize_int4");
  return QuantizeInt4Params{.x = x.data(),
                            .x_dtype = x.dtype(),
                            .packed = packed.data_as<uint8_t>(),
                            .scale = scale.data_as<uint16_t>(),
                            .min = min.data_as<uint16_t>(),
                            .n = x.numel(),
                            .group = kInt4Group};
}

DequantizeInt4Params dequantize_int4_params(const Tensor& packed, const Tensor& scale,
                                            const Tensor& min, const Tensor& out) {
  check_int4(out, packed, scale, min, "dequantize_int4");
  return DequantizeInt4Params{.packed = packed.data_as<uint8_t>(),
                              .scale = scale.data_as<uint16_t>(),
                              .min = min.data_as<uint16_t>(),
                              .out = out.data(),
                              .out_dtype = out.dtype(),
                              .n = out.numel(),
                              .group = kInt4Group};
}

QuantizeInt8Params quantize_int8_params(const Tensor& x, const Tensor& q, const Tensor& scale,
                                        const Tensor& zero) {
  check_row_view(x, "quantize_int8 x");
  const int64_t rows = x.size(0), len = x.size(1);
  check_rows(q, rows, len, DType::kU8, "quantize_int8 q");
  check_affine(scale, zero, rows, "quantize_int8");
  return QuantizeInt8Params{.x = x.data(),
                            .x_dtype = x.dtype(),
                            .q = q.data_as<uint8_t>(),
                            .scale = scale.data_as<uint16_t>(),
                            .zero = zero.data_as<uint16_t>(),
                            .n_rows = rows,
                            .row_len = len,
                            .x_row_stride = x.stride(0)};
}

DequantizeInt8Params dequantize_int8_params(const Tensor& q, const Tensor& scale,
                                            const Tensor& zero, const Tensor& out) {
  check_row_view(out, "dequantize_int8 out");
  const int64_t rows = out.size(0), len = out.size(1);
  check_rows(q, rows, len, DType::kU8, "dequantize_int8 q");
  check_affine(scale, zero, rows, "dequantize_int8");
  return DequantizeInt8Params{.q = q.data_as<uint8_t>(),
                              .scale = scale.data_as<uint16_t>(),
                              .zero = zero.data_as<uint16_t>(),
                              .out = out.data(),
                              .out_dtype = out.dtype(),
                              .n_rows = rows,
                              .row_len = len,
                              .out_row_stride = out.stride(0)};
}

namespace {

// The SWA state's shapes: batch, groups, capacity, window rows, row capacity, max_selected.
struct SwaDims {
  int64_t batch = 0, groups = 1, capacity = 0, window_rows = 0, row_capacity = 0;
  int64_t max_selected = 0, n_heads = 0;
};

SwaDims swa_dims(const SwaState& swa) {
  ALISA_ASSERT(swa.active(), "SWA op without SWA state");
  const Tensor& seq = swa.sequences;
  ALISA_ASSERT(seq.rank() == 2 && seq.size(1) == kSwaSequenceFields && seq.dtype() == DType::kI32 &&
                   seq.is_contiguous(),
               "SWA sequences ", seq.shape_string());
  const Tensor& sel = swa.selected;
  ALISA_ASSERT(sel.rank() == 3 && sel.size(0) == seq.size(0) && sel.dtype() == DType::kI32 &&
                   sel.is_contiguous(),
               "SWA selected ", sel.shape_string());
  SwaDims shape{.batch = seq.size(0), .groups = sel.size(1), .max_selected = sel.size(2)};
  const Tensor& probs = swa.probs;
  ALISA_ASSERT(probs.rank() == 3 && probs.size(0) == shape.batch &&
                   probs.size(2) == shape.max_selected && probs.dtype() == DType::kF32 &&
                   probs.is_contiguous(),
               "SWA probs ", probs.shape_string());
  shape.n_heads = probs.size(1);
  ALISA_ASSERT(shape.groups == 1 || shape.groups == shape.n_heads, "SWA groups ", shape.groups,
               " for ", shape.n_heads, " heads");
  if (swa.scored()) {
    const Tensor& score = swa.score;
    ALISA_ASSERT(score.rank() == 3 && score.size(0) == shape.batch &&
                     score.size(1) == shape.groups && score.dtype() == DType::kF32 &&
                     score.is_contiguous(),
                 "SWA score ", score.shape_string());
    shape.capacity = score.size(2);
  }
  if (swa.mode == SwaScore::kWindow) {
    const Tensor& ring = swa.ring_index;
    ALISA_ASSERT(ring.rank() == 4 && ring.size(0) == shape.batch && ring.size(1) == shape.groups &&
                     ring.dtype() == DType::kI32 && ring.is_contiguous(),
                 "SWA ring ", ring.shape_string());
    shape.window_rows = ring.size(2);
    shape.row_capacity = ring.size(3);
    ALISA_ASSERT(swa.ring_weight.numel() == ring.numel() &&
                     swa.ring_weight.dtype() == DType::kF32 && swa.ring_weight.is_contiguous(),
                 "SWA ring weights");
    ALISA_ASSERT(swa.ring_count.numel() == shape.batch * shape.window_rows &&
                     swa.ring_count.dtype() == DType::kI32 && swa.ring_count.is_contiguous(),
                 "SWA ring counts");
  }
  return shape;
}

// k or v of the cache: [batch, tokens, n_kv_heads, head_dim] with packed heads.
void check_swa_cache(const Tensor& t, int64_t batch, int64_t head_dim, const char* what) {
  ALISA_ASSERT(t.rank() == 4 && t.size(0) == batch && t.size(3) == head_dim && t.stride(3) == 1 &&
                   t.stride(2) == head_dim,
               "SWA ", what, " ", t.shape_string());
}

}  // namespace

SwaSelectParams swa_select_params(const SwaState& swa) {
  const SwaDims shape = swa_dims(swa);
  return SwaSelectParams{.score = swa.scored() ? swa.score.data_as<float>() : nullptr,
                         .sequences = static_cast<const SwaSequence*>(swa.sequences.data()),
                         .selected = swa.selected.data_as<int32_t>(),
                         .batch = shape.batch,
                         .groups = shape.groups,
                         .capacity = shape.capacity,
                         .max_selected = shape.max_selected};
}

SparseAttentionParams sparse_attention_params(const Tensor& q, const Tensor& k, const Tensor& v,
                                              const SwaState& swa, float scale, const Tensor& out) {
  const SwaDims shape = swa_dims(swa);
  ALISA_ASSERT(q.rank() == 4 && q.size(0) == shape.batch && q.size(1) == 1 &&
                   q.size(2) == shape.n_heads && q.stride(3) == 1 && q.stride(2) == q.size(3),
               "sparse attention q ", q.shape_string());
  const int64_t head_dim = q.size(3);
  ALISA_ASSERT(out.rank() == 4 && out.size(0) == shape.batch && out.size(1) == 1 &&
                   out.size(2) == shape.n_heads && out.size(3) == head_dim && out.stride(3) == 1 &&
                   out.stride(2) == head_dim && out.dtype() == q.dtype(),
               "sparse attention out ", out.shape_string());
  check_swa_cache(k, shape.batch, head_dim, "k");
  check_swa_cache(v, shape.batch, head_dim, "v");
  ALISA_ASSERT(v.size(1) == k.size(1) && v.size(2) == k.size(2) && v.stride(0) == k.stride(0) &&
                   v.stride(1) == k.stride(1) && v.dtype() == k.dtype() &&
                   shape.n_heads % k.size(2) == 0,
               "sparse attention v ", v.shape_string(), " must match k ", k.shape_string());
  const bool recomputed = swa.recomputed_below > 0;
  if (recomputed) {
    for (const Tensor* t : {&swa.recomputed_k, &swa.recomputed_v}) {
      ALISA_ASSERT(shape.groups == 1 && t->rank() == 4 && t->size(0) == shape.batch &&
                       t->size(2) == k.size(2) && t->size(3) == head_dim && t->stride(3) == 1 &&
                       t->stride(2) == head_dim && t->dtype() == k.dtype() &&
                       t->stride(0) == swa.recomputed_k.stride(0) &&
                       t->stride(1) == swa.recomputed_k.stride(1),
                   "sparse attention recomputed K/V ", t->shape_string());
    }
    // Every selected token below recomputed_below has its row: at most that many, at most all.
    ALISA_ASSERT(swa.recomputed_k.size(1) >= std::min(shape.max_selected, swa.recomputed_below),
                 "sparse attention recomputed K/V of ", swa.recomputed_k.size(1), " rows for ",
                 swa.recomputed_below, " kept positions");
  }
  return SparseAttentionParams{
      .q = q.data(),
      .k = k.data(),
      .v = v.data(),
      .selected = swa.selected.data_as<int32_t>(),
      .sequences = static_cast<const SwaSequence*>(swa.sequences.data()),
      .out = out.data(),
      .probs = swa.probs.data_as<float>(),
      .batch = shape.batch,
      .n_heads = shape.n_heads,
      .n_kv_heads = k.size(2),
      .head_dim = head_dim,
      .groups = shape.groups,
      .capacity = k.size(1),
      .max_selected = shape.max_selected,
      .q_batch_stride = q.stride(0),
      .out_batch_stride = out.stride(0),
      .kv_batch_stride = k.stride(0),
      .kv_token_stride = k.stride(1),
      .k_recomputed = recomputed ? swa.recomputed_k.data() : nullptr,
      .v_recomputed = recomputed ? swa.recomputed_v.data() : nullptr,
      .recomputed_below = recomputed ? swa.recomputed_below : 0,
      .recomputed_batch_stride = recomputed ? swa.recomputed_k.stride(0) : 0,
      .recomputed_token_stride = recomputed ? swa.recomputed_k.stride(1) : 0,
      .scale = scale,
      .dtype = q.dtype(),
      .kv_dtype = k.dtype()};
}

SwaScoreUpdateParams swa_score_update_params(const SwaState& swa) {
  ALISA_ASSERT(swa.scored(), "SWA score update without a score");
  const SwaDims shape = swa_dims(swa);
  const bool window = swa.mode == SwaScore::kWindow;
  return SwaScoreUpdateParams{.probs = swa.probs.data_as<float>(),
                              .selected = swa.selected.data_as<int32_t>(),
                              .sequences = static_cast<const SwaSequence*>(swa.sequences.data()),
                              .score = swa.score.data_as<float>(),
                              .ring_index = window ? swa.ring_index.data_as<int32_t>() : nullptr,
                              .ring_weight = window ? swa.ring_weight.data_as<float>() : nullptr,
                              .ring_count = window ? swa.ring_count.data_as<int32_t>() : nullptr,
                              .batch = shape.batch,
                              .groups = shape.groups,
                              .n_heads = shape.n_heads,
                              .capacity = shape.capacity,
                              .max_selected = shape.max_selected,
                              .window_rows = shape.window_rows,
                              .row_capacity = shape.row_capacity,
                              .mode = swa.mode,
                              .gamma = swa.gamma};
}

SwaPrefillScoreParams swa_prefill_score_params(const Tensor& q, const Tensor& k,
                                               const SwaState& swa, float scale) {
  ALISA_ASSERT(swa.scored(), "SWA prefill score without a score");
  const SwaDims shape = swa_dims(swa);
  ALISA_ASSERT(q.rank() == 4 && q.size(0) == shape.batch && q.size(2) == shape.n_heads &&
                   q.stride(3) == 1 && q.stride(2) == q.size(3),
               "SWA prefill q ", q.shape_string());
  const int64_t head_dim = q.size(3);
  check_swa_cache(k, shape.batch, head_dim, "prefill k");
  ALISA_ASSERT(
      k.size(1) >= q.size(1) && shape.n_heads % k.size(2) == 0 && shape.capacity >= k.size(1),
      "SWA prefill k ", k.shape_string(), " for q ", q.shape_string());
  const bool window = swa.mode == SwaScore::kWindow;
  // The queries are the cache's last q.size(1) tokens (a refill's prompt ends under the write
  // index): the kernels address query rows by cache index, so the pointer starts that many rows
  // before q (rows that are never read: only the last prefill_rows are).
  const int64_t q_first = k.size(1) - q.size(1);
  const char* q_rows = static_cast<const char*>(q.data()) -
                       q_first * q.stride(1) * static_cast<int64_t>(dtype_size(q.dtype()));
  return SwaPrefillScoreParams{.q = q_rows,
                               .k = k.data(),
                               .sequences = static_cast<const SwaSequence*>(swa.sequences.data()),
                               .score = swa.score.data_as<float>(),
                               .ring_index = window ? swa.ring_index.data_as<int32_t>() : nullptr,
                               .ring_weight = window ? swa.ring_weight.data_as<float>() : nullptr,
                               .ring_count = window ? swa.ring_count.data_as<int32_t>() : nullptr,
                               .batch = shape.batch,
                               .n_q = k.size(1),
                               .n_heads = shape.n_heads,
                               .n_kv_heads = k.size(2),
                               .head_dim = head_dim,
                               .groups = shape.groups,
                               .capacity = shape.capacity,
                               .window_rows = shape.window_rows,
                               .row_capacity = shape.row_capacity,
                               .q_batch_stride = q.stride(0),
                               .q_token_stride = q.stride(1),
                               .kv_batch_stride = k.stride(0),
                               .kv_token_stride = k.stride(1),
                               .scale = scale,
                               .mode = swa.mode,
                               .dtype = q.dtype(),
                               .kv_dtype = k.dtype()};
}

SwaGatherHiddenParams swa_gather_hidden_params(const Tensor& hidden, const SwaState& swa,
                                               int32_t position_offset, const Tensor& rows,
                                               const Tensor& positions) {
  const SwaDims shape = swa_dims(swa);
  ALISA_ASSERT(shape.groups == 1, "Phase III selects one token set per layer");
  ALISA_ASSERT(hidden.rank() == 3 && hidden.size(0) == shape.batch && hidden.stride(2) == 1,
               "SWA kept hidden states ", hidden.shape_string());
  const int64_t dim = hidden.size(2);
  ALISA_ASSERT(rows.rank() == 3 && rows.size(0) == shape.batch && rows.size(2) == dim &&
                   rows.is_contiguous() && rows.dtype() == hidden.dtype(),
               "SWA gathered rows ", rows.shape_string());
  ALISA_ASSERT(positions.numel() == rows.size(0) * rows.size(1) &&
                   positions.dtype() == DType::kI32 && positions.is_contiguous(),
               "SWA gathered positions ", positions.shape_string());
  return SwaGatherHiddenParams{.hidden = hidden.data(),
                               .selected = swa.selected.data_as<int32_t>(),
                               .sequences = static_cast<const SwaSequence*>(swa.sequences.data()),
                               .rows = rows.data(),
                               .positions = positions.data_as<int32_t>(),
                               .batch = shape.batch,
                               .max_selected = shape.max_selected,
                               .max_rows = rows.size(1),
                               .hidden_dim = dim,
                               .below = hidden.size(1),
                               .hidden_batch_stride = hidden.stride(0),
                               .hidden_token_stride = hidden.stride(1),
                               .position_offset = position_offset,
                               .dtype = hidden.dtype()};
}

}  // namespace alisa
