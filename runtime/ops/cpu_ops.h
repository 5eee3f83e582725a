// Ops on the CPU device: float32 kernels from kernels_cpu, run inside this context's TBB arena
// (TBB workers) with oneDNN's OpenMP threads capped to the same count, so the two never
// oversubscribe the cores.
#pragma once

#include <memory>

#include <tbb/task_arena.h>

#include "runtime/ops/ops.h"

namespace alisa {

class LinearCpu;

class CpuOps final : public Ops {
 public:
  // n_threads <= 0: all cores.
  explicit CpuOps(int n_threads);
  ~CpuOps() override;

  int n_threads() const { return n_threads_; }

  void embedding(const Tensor& token_ids, const Tensor& table, const Tensor& position_ids,
                 const Tensor& position_table, const Tensor& out) override;
  void layer_norm(const Tensor& x, const Tensor& residual, const Tensor& residual_out,
                  const Tensor& weight, const Tensor& bias, float eps, const Tensor& out) override;
  void rms_norm(const Tensor& x, const Tensor& residual, const Tensor& residual_out,
                const Tensor& weight, float eps, const Tensor& out) override;
  void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y) override;
  void activation(const Tensor& x, const Tensor& up, Activation activation,
                  const Tensor& out) override;
  void add(const Tensor& a, const Tensor& b, const Tensor& out) override;
  void rotary(const Tensor& x, const Tensor& position_ids, const Tensor& inv_freq) override;
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                 int64_t q_start, float scale, const Tensor& out) override;
  void copy(const Tensor& src, const Tensor& dst) override;
  void convert(const Tensor& src, const Tensor& dst) override;
  void sample(const Tensor& logits, const Tensor& rng_keys, uint64_t step,
              const SamplingSettings& settings, const Tensor& tokens) override;
  void dequantize_int4(const Tensor& packed, const Tensor& scale, const Tensor& min,
                       const Tensor& out) override;
  void quantize_int8_rows(const Tensor& x, const Tensor& q, const Tensor& scale,
                          const Tensor& zero) override;
  void dequantize_int8_rows(const Tensor& q, const Tensor& scale, const Tensor& zero,
                            const Tensor& out) override;
  void swa_select(const SwaState& swa) override;
  void sparse_attention(const Tensor& q, const Tensor& k, const Tensor& v, const SwaState& swa,
                        float scale, const Tensor& out) override;
  void swa_update_score(const SwaState& swa) override;
  void swa_prefill_score(const Tensor& q, const Tensor& k, const SwaState& swa,
                         float scale) override;
  void swa_gather_hidden(const Tensor& hidden, const SwaState& swa, int32_t position_offset,
                         const Tensor& rows, const Tensor& positions) override;

 private:
  template <typename F>
  void in_arena(F&& f) {
    arena_.execute(std::forward<F>(f));
  }

  int n_threads_;
  tbb::task_arena arena_;
  std::unique_ptr<LinearCpu> linear_;
};

}  // namespace alisa
