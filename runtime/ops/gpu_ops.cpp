#include "runtime/ops/gpu_ops.h"

#include "kernels_gpu/activation.cuh"
#include "kernels_gpu/add.cuh"
#include "kernels_gpu/attention_decode.cuh"
#include "kernels_gpu/attention_prefill.cuh"
#include "kernels_gpu/convert.cuh"
#include "kernels_gpu/copy_rows.cuh"
#include "kernels_gpu/cuda_check.cuh"
#include "kernels_gpu/embedding.cuh"
#include "kernels_gpu/layer_norm.cuh"
#include "kernels_gpu/linear.cuh"
#include "kernels_gpu/quantize.cuh"
#include "kernels_gpu/rms_norm.cuh"
#include "kernels_gpu/rotary.cuh"
#include "kernels_gpu/sampling.cuh"
#include "kernels_gpu/sparse_attention.cuh"
#include "kernels_gpu/swa_gather_hidden.cuh"
#include "kernels_gpu/swa_prefill_score.cuh"
#include "kernels_gpu/swa_select.cuh"
#include "kernels_gpu/swa_update_score.cuh"

namespace alisa {

GpuOps::GpuOps(GpuDevice& device)
    : device_(device),
      stream_(device.compute_stream()),
      linear_(std::make_unique<gpu::LinearGpu>()) {}

GpuOps::~GpuOps() = default;

void GpuOps::embedding(const Tensor& token_ids, const Tensor& table, const Tensor& position_ids,
                       const Tensor& position_table, const Tensor& out) {
  gpu::embedding(embedding_params(token_ids, table, position_ids, position_table, out), stream_);
}

void GpuOps::layer_norm(const Tensor& x, const Tensor& residual, const Tensor& residual_out,
                        const Tensor& weight, const Tensor& bias, float eps, const Tensor& out) {
  gpu::layer_norm(norm_params(x, residual, residual_out, weight, bias, eps, out), stream_);
}

void GpuOps::rms_norm(const Tensor& x, const Tensor& residual, const Tensor& residual_out,
                      const Tensor& weight, float eps, const Tensor& out) {
  gpu::rms_norm(norm_params(x, residual, residual_out, weight, Tensor(), eps, out), stream_);
}

void GpuOps::linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y) {
  linear_->run(linear_params(x, weight, bias, y), stream_);
}

void GpuOps::activation(const Tensor& x, const Tensor& up, Activation activation,
                        const Tensor& out) {
  gpu::activation(activation_params(x, up, activation, out), stream_);
}

void GpuOps::add(const Tensor& a, const Tensor& b, const Tensor& out) {
  gpu::add(add_params(a, b, out), stream_);
}

void GpuOps::rotary(const Tensor& x, const Tensor& position_ids, const Tensor& inv_freq) {
  gpu::rotary(rotary_params(x, position_ids, inv_freq), stream_);
}

void GpuOps::attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                       int64_t q_start, float scale, const Tensor& out) {
  const AttentionParams p = attention_params(q, k, v, key_mask, q_start, scale, out);
  if (p.n_q > 1) {
    gpu::attention_prefill(p, stream_);
    return;
  }
  const size_t needed = gpu::attention_decode_workspace_bytes(p);
  if (attention_workspace_.n_bytes() < needed) {
    // Kernels queued earlier on this stream may still read the old workspace (only the compute
    // stream uses it: the transfer streams go on).
    ALISA_CUDA_CHECK(cudaStreamSynchronize(stream_));
    attention_workspace_ = Buffer();
    attention_workspace_ = device_.allocate(needed, "decode attention workspace");
  }
  gpu::attention_decode(p, attention_workspace_.data(), attention_workspace_.n_bytes(), stream_);
}

void GpuOps::copy(const Tensor& src, const Tensor& dst) {
  // A kernel, not a DMA copy: either side may be mapped pinned memory (a CPU-resident cache that
  // sparse window attention reads in place takes the step's new keys and values this way), and a
  // DMA copy on this stream would wait behind the bulk transfers of the copy engine.
  const CopyPlan plan = copy_plan(src, dst);
  plan.for_each_block([&](const char* from, char* to) {
    gpu::copy_rows({.src = from,
                    .dst = to,
                    .row_bytes = plan.row_bytes,
                    .n_rows = plan.n_rows,
                    .src_pitch = plan.src_pitch,
                    .dst_pitch = plan.dst_pitch},
                   stream_);
  });
}

void GpuOps::convert(const Tensor& src, const Tensor& dst) {
  gpu::convert(convert_params(src, dst), stream_);
}

void GpuOps::sample(const Tensor& logits, const Tensor& rng_keys, uint64_t step,
                    const SamplingSettings& settings, const Tensor& tokens) {
  gpu::sample(sampling_params(logits, rng_keys, step, settings, tokens), stream_);
}

void GpuOps::dequantize_int4(const Tensor& packed, const Tensor& scale, const Tensor& min,
                             const Tensor& out) {
  gpu::dequantize_int4_gpu(dequantize_int4_params(packed, scale, min, out), stream_);
}

void GpuOps::quantize_int8_rows(const Tensor& x, const Tensor& q, const Tensor& scale,
                                const Tensor& zero) {
  gpu::quantize_int8_gpu(quantize_int8_params(x, q, scale, zero), stream_);
}

void GpuOps::dequantize_int8_rows(const Tensor& q, const Tensor& scale, const Tensor& zero,
                                  const Tensor& out) {
  gpu::dequantize_int8_gpu(dequantize_int8_params(q, scale, zero, out), stream_);
}

void GpuOps::swa_select(const SwaState& swa) {
  gpu::swa_select(swa_select_params(swa), stream_);
}

void GpuOps::sparse_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                              const SwaState& swa, float scale, const Tensor& out) {
  gpu::sparse_attention(sparse_attention_params(q, k, v, swa, scale, out), stream_);
}

void GpuOps::swa_update_score(const SwaState& swa) {
  gpu::swa_update_score(swa_score_update_params(swa), stream_);
}

void GpuOps::swa_prefill_score(const Tensor& q, const Tensor& k, const SwaState& swa, float scale) {
  gpu::swa_prefill_score(swa_prefill_score_params(q, k, swa, scale), stream_);
}

void GpuOps::swa_gather_hidden(const Tensor& hidden, const SwaState& swa, int32_t position_offset,
                               const Tensor& rows, const Tensor& positions) {
  gpu::swa_gather_hidden(swa_gather_hidden_params(hidden, swa, position_offset, rows, positions),
                         stream_);
}

}  // namespace alisa
