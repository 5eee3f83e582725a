#include "runtime/ops/cpu_ops.h"

#include <omp.h>
#include <cstring>
#include <thread>

#include "kernels_cpu/activation_cpu.h"
#include "kernels_cpu/add_cpu.h"
#include "kernels_cpu/attention_cpu.h"
#include "kernels_cpu/convert_cpu.h"
#include "kernels_cpu/embedding_cpu.h"
#include "kernels_cpu/layer_norm_cpu.h"
#include "kernels_cpu/linear_cpu.h"
#include "kernels_cpu/quantize_cpu.h"
#include "kernels_cpu/rms_norm_cpu.h"
#include "kernels_cpu/rotary_cpu.h"
#include "kernels_cpu/sampling_cpu.h"
#include "kernels_cpu/swa_cpu.h"

namespace alisa {
namespace {

int resolve_threads(int n_threads) {
  if (n_threads > 0) return n_threads;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

}  // namespace

CpuOps::CpuOps(int n_threads)
    : n_threads_(resolve_threads(n_threads)),
      arena_(n_threads_),
      linear_(std::make_unique<LinearCpu>()) {
  // oneDNN (OpenMP threading) is only called from this thread, never from TBB tasks: cap its
  // team to the same core count the arena uses.
  omp_set_num_threads(n_threads_);
}

CpuOps::~CpuOps() = default;

void CpuOps::embedding(const Tensor& token_ids, const Tensor& table, const Tensor& position_ids,
                       const Tensor& position_table, const Tensor& out) {
  const EmbeddingParams p = embedding_params(token_ids, table, position_ids, position_table, out);
  in_arena([&] { embedding_cpu(p); });
}

void CpuOps::layer_norm(const Tensor& x, const Tensor& residual, const Tensor& residual_out,
                        const Tensor& weight, const Tensor& bias, float eps, const Tensor& out) {
  const NormParams p = norm_params(x, residual, residual_out, weight, bias, eps, out);
  in_arena([&] { layer_norm_cpu(p); });
}

void CpuOps::rms_norm(const Tensor& x, const Tensor& residual, const Tensor& residual_out,
                      const Tensor& weight, float eps, const Tensor& out) {
  const NormParams p = norm_params(x, residual, residual_out, weight, Tensor(), eps, out);
  in_arena([&] { rms_norm_cpu(p); });
}

void CpuOps::linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y) {
  linear_->run(linear_params(x, weight, bias, y));
}

void CpuOps::activation(const Tensor& x, const Tensor& up, Activation activation,
                        const Tensor& out) {
  const ActivationParams p = activation_params(x, up, activation, out);
  in_arena([&] { activation_cpu(p); });
}

void CpuOps::add(const Tensor& a, const Tensor& b, const Tensor& out) {
  const AddParams p = add_params(a, b, out);
  in_arena([&] { add_cpu(p); });
}

void CpuOps::rotary(const Tensor& x, const Tensor& position_ids, const Tensor& inv_freq) {
  const RotaryParams p = rotary_params(x, position_ids, inv_freq);
  in_arena([&] { rotary_cpu(p); });
}

void CpuOps::attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                       int64_t q_start, float scale, const Tensor& out) {
  const AttentionParams p = attention_params(q, k, v, key_mask, q_start, scale, out);
  in_arena([&] { attention_cpu(p); });
}

void CpuOps::copy(const Tensor& src, const Tensor& dst) {
  const CopyPlan plan = copy_plan(src, dst);
  plan.for_each_block([&](const char* from, char* to) {
    for (int64_t r = 0; r < plan.n_rows; ++r) {
      std::memcpy(to + r * plan.dst_pitch, from + r * plan.src_pitch, plan.row_bytes);
    }
  });
}

void CpuOps::convert(const Tensor& src, const Tensor& dst) {
  const ConvertParams p = convert_params(src, dst);
  in_arena([&] { convert_cpu(p); });
}

void CpuOps::sample(const Tensor& logits, const Tensor& rng_keys, uint64_t step,
                    const SamplingSettings& settings, const Tensor& tokens) {
  const SamplingParams p = sampling_params(logits, rng_keys, step, settings, tokens);
  in_arena([&] { sampling_cpu(p); });
}

void CpuOps::dequantize_int4(const Tensor& packed, const Tensor& scale, const Tensor& min,
                             const Tensor& out) {
  const DequantizeInt4Params p = dequantize_int4_params(packed, scale, min, out);
  in_arena([&] { dequantize_int4_cpu(p); });
}

void CpuOps::quantize_int8_rows(const Tensor& x, const Tensor& q, const Tensor& scale,
                                const Tensor& zero) {
  const QuantizeInt8Params p = quantize_int8_params(x, q, scale, zero);
  in_arena([&] { quantize_int8_cpu(p); });
}

void CpuOps::dequantize_int8_rows(const Tensor& q, const Tensor& scale, const Tensor& zero,
                                  const Tensor& out) {
  const DequantizeInt8Params p = dequantize_int8_params(q, scale, zero, out);
  in_arena([&] { dequantize_int8_cpu(p); });
}

void CpuOps::swa_select(const SwaState& swa) {
  const SwaSelectParams p = swa_select_params(swa);
  in_arena([&] { swa_select_cpu(p); });
}

void CpuOps::sparse_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                              const SwaState& swa, float scale, const Tensor& out) {
  const SparseAttentionParams p = sparse_attention_params(q, k, v, swa, scale, out);
  in_arena([&] { sparse_attention_cpu(p); });
}

void CpuOps::swa_update_score(const SwaState& swa) {
  const SwaScoreUpdateParams p = swa_score_update_params(swa);
  in_arena([&] { swa_update_score_cpu(p); });
}

void CpuOps::swa_prefill_score(const Tensor& q, const Tensor& k, const SwaState& swa, float scale) {
  const SwaPrefillScoreParams p = swa_prefill_score_params(q, k, swa, scale);
  in_arena([&] { swa_prefill_score_cpu(p); });
}

void CpuOps::swa_gather_hidden(const Tensor& hidden, const SwaState& swa, int32_t position_offset,
                               const Tensor& rows, const Tensor& positions) {
  const SwaGatherHiddenParams p =
      swa_gather_hidden_params(hidden, swa, position_offset, rows, positions);
  in_arena([&] { swa_gather_hidden_cpu(p); });
}

}  // namespace alisa
