#include "runtime/cpu_ops.h"

#include <omp.h>
#include <cstring>
#include <thread>

#include "kernels_cpu/activation_cpu.h"
#include "kernels_cpu/add_cpu.h"
#include "kernels_cpu/attention_cpu.h"
#include "kernels_cpu/embedding_cpu.h"
#include "kernels_cpu/layer_norm_cpu.h"
#include "kernels_cpu/linear_cpu.h"
#include "kernels_cpu/rms_norm_cpu.h"
#include "kernels_cpu/rotary_cpu.h"
#include "kernels_cpu/sampling_cpu.h"

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
  ALISA_ASSERT(src.rank() == dst.rank() && src.dtype() == dst.dtype(), "copy ", src.shape_string(),
               " -> ", dst.shape_string());
  for (int d = 0; d < src.rank(); ++d) ALISA_ASSERT(src.size(d) == dst.size(d), "copy shapes");
  const int inner = src.rank() - 1;
  ALISA_ASSERT(src.stride(inner) == 1 && dst.stride(inner) == 1, "copy needs unit inner stride");
  const size_t row_bytes = static_cast<size_t>(src.size(inner)) * dtype_size(src.dtype());
  // Iterate over the outer indices; rank <= 4 so at most three nested levels.
  int64_t outer[3] = {1, 1, 1};
  for (int d = 0; d < inner; ++d) outer[3 - inner + d] = src.size(d);
  auto stride_of = [](const Tensor& t, int level, int inner_dim) -> int64_t {
    const int d = level - (3 - inner_dim);
    return d >= 0 ? t.stride(d) : 0;
  };
  const size_t element = dtype_size(src.dtype());
  for (int64_t i = 0; i < outer[0]; ++i)
    for (int64_t j = 0; j < outer[1]; ++j)
      for (int64_t l = 0; l < outer[2]; ++l) {
        const int64_t src_offset = i * stride_of(src, 0, inner) + j * stride_of(src, 1, inner) +
                                   l * stride_of(src, 2, inner);
        const int64_t dst_offset = i * stride_of(dst, 0, inner) + j * stride_of(dst, 1, inner) +
                                   l * stride_of(dst, 2, inner);
        std::memcpy(static_cast<char*>(dst.data()) + dst_offset * element,
                    static_cast<const char*>(src.data()) + src_offset * element, row_bytes);
      }
}

void CpuOps::sample(const Tensor& logits, const Tensor& rng_keys, uint64_t step,
                    const SamplingSettings& settings, const Tensor& tokens) {
  const SamplingParams p = sampling_params(logits, rng_keys, step, settings, tokens);
  in_arena([&] { sampling_cpu(p); });
}

}  // namespace alisa
