#include "runtime/calibrate/calibrate_gpu.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "kernels_gpu/attention_decode.cuh"
#include "kernels_gpu/calibrate_kernels.cuh"
#include "kernels_gpu/cuda_check.cuh"
#include "kernels_gpu/linear.cuh"
#include "policy/memory_plan.h"
#include "runtime/base/swa_budget.h"
#include "runtime/calibrate/calibrate_links_gpu.h"
#include "runtime/calibrate/calibrate_timing.h"
#include "runtime/calibrate/calibrate_timing_gpu.h"
#include "runtime/core/gpu_device.h"
#include "runtime/core/tensor.h"
#include "runtime/ops/gpu_ops.h"
#include "runtime/ops/ops.h"
#include "runtime/program/swa.h"

namespace alisa {
namespace {

using namespace calibration;  // the folder's timing helpers

constexpr double kGemmTargetSeconds = 2e-3;       // a timed GEMM run repeats the GEMM this long
constexpr double kAttentionTargetSeconds = 2e-3;  // and an attention run the attention
constexpr int64_t kMaxAttentionCopies = 64;       // cache copies rotated at the smallest batch

}  // namespace

double measure_gpu_memory_gbps(size_t n_bytes) {
  const auto src = device_memory(n_bytes), dst = device_memory(n_bytes);
  ALISA_CUDA_CHECK(cudaMemset(src.get(), 0x5a, n_bytes));
  const auto stream = non_blocking_stream();
  const double seconds = best_event_seconds(stream.get(), [&] {
    ALISA_CUDA_CHECK(
        cudaMemcpyAsync(dst.get(), src.get(), n_bytes, cudaMemcpyDeviceToDevice, stream.get()));
  });
  return gbps(2.0 * static_cast<double>(n_bytes), seconds);  // read + write
}

double measure_launch_us(int launches) {
  ALISA_CHECK(launches > 0, "launch calibration: ", launches, " launches");
  const auto stream = non_blocking_stream();
  const double seconds = median_event_seconds(
      stream.get(), [&] { gpu::launch_empty_kernels(launches, stream.get()); });
  return 1e6 * seconds / launches;
}

std::vector<GemmRate> measure_gemm_rates(const std::vector<GemmShape>& shapes,
                                         const std::vector<int64_t>& ms) {
  ALISA_CHECK(!ms.empty() && *std::min_element(ms.begin(), ms.end()) > 0,
              "GEMM calibration: token counts must be positive");
  const int64_t max_m = *std::max_element(ms.begin(), ms.end());
  const int64_t l2_bytes = device_attribute(cudaDevAttrL2CacheSize);
  const auto stream = non_blocking_stream();
  gpu::LinearGpu linear;  // the runtime's: cuBLASLt with its workspace and plan cache
  std::vector<GemmRate> rates;
  uint64_t seed = 1;
  for (const GemmShape& shape : shapes) {
    ALISA_CHECK(shape.n > 0 && shape.k > 0, "GEMM calibration: empty shape");
    const size_t w_bytes = static_cast<size_t>(shape.n * shape.k) * 2;
    // A layer's weights are read once per step: rotate over copies the L2 cannot hold together.
    const int64_t copies = std::clamp<int64_t>(
        (2 * l2_bytes + static_cast<int64_t>(w_bytes) - 1) / static_cast<int64_t>(w_bytes), 1, 16);
    const auto w = device_memory(static_cast<size_t>(copies) * w_bytes);
    const auto x = device_memory(static_cast<size_t>(max_m * shape.k) * 2);
    const auto y = device_memory(static_cast<size_t>(max_m * shape.n) * 2);
    gpu::fill_random_f16(w.get(), copies * shape.n * shape.k, seed++, stream.get());
    gpu::fill_random_f16(x.get(), max_m * shape.k, seed++, stream.get());
    for (const int64_t m : ms) {
      LinearParams p{.x = x.get(),
                     .weight = w.get(),
                     .bias = nullptr,
                     .y = y.get(),
                     .m = m,
                     .n = shape.n,
                     .k = shape.k,
                     .x_row_stride = 0,
                     .dtype = DType::kF16,
                     .weight_dtype = DType::kF16};
      int64_t next = 0;
      auto run = [&](int64_t iterations) {
        for (int64_t i = 0; i < iterations; ++i, ++next) {
          p.weight = w.get() + static_cast<size_t>(next % copies) * w_bytes;
          linear.run(p, stream.get());
        }
      };
      run(1);  // plans the GEMM (host-side heuristics, not part of any timing)
      const double once = std::max(event_seconds(stream.get(), [&] { run(1); }), 1e-7);
      const int64_t iterations =
          std::clamp<int64_t>(std::llround(std::ceil(kGemmTargetSeconds / once)), 1, 1000);
      const double seconds =
          median_event_seconds(stream.get(), [&] { run(iterations); }) / iterations;
      const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(shape.n) *
                           static_cast<double>(shape.k);
      rates.push_back({.m = m, .n = shape.n, .k = shape.k, .tflops = flops / seconds / 1e12});
    }
  }
  return rates;
}

std::vector<GpuAttentionRate> measure_gpu_attention(const GpuAttentionShape& s,
                                                    const std::vector<int64_t>& batches) {
  ALISA_CHECK(s.n_heads > 0 && s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0 &&
                  s.head_dim > 0 && s.capacity > 1,
              "GPU attention calibration: bad shape");
  ALISA_CHECK(!batches.empty() && batches.front() > 0 &&
                  std::adjacent_find(batches.begin(), batches.end(), std::greater_equal<>()) ==
                      batches.end(),
              "GPU attention calibration: batch sizes must be positive and ascending");
  const int64_t l2_bytes = device_attribute(cudaDevAttrL2CacheSize);
  const int64_t hd = s.head_dim, row = s.n_kv_heads * hd;  // one token of one sequence
  const int64_t past = s.capacity - 1;                     // the new token is the last cached
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // The runtime's budget at a full cache: total tokens, the last `local` of them, the rest spread
  // evenly over the older ones (what a score selects varies; how many it reads does not).
  const SwaBudget budget = swa_budget(s.capacity, s.swa_sparsity, SwaOptions{}.min_tokens);
  const int64_t total = budget.total, local = budget.local, global = budget.global;
  std::vector<int32_t> one_set(static_cast<size_t>(total));
  for (int64_t j = 0; j < global; ++j) {
    one_set[static_cast<size_t>(j)] = static_cast<int32_t>(j * (s.capacity - local) / global);
  }
  for (int64_t j = 0; j < local; ++j) {
    one_set[static_cast<size_t>(global + j)] = static_cast<int32_t>(s.capacity - local + j);
  }
  SwaSequence sequence;
  sequence.first = 0;
  sequence.n = static_cast<int32_t>(s.capacity);
  sequence.local = static_cast<int32_t>(local);
  sequence.total = static_cast<int32_t>(total);

  // The compute device's arena holds what GpuOps allocates (the decode workspace) and the step's
  // small tensors; the caches are cudaMalloc'd (and cudaHostAlloc'd) apart, like GEMM weights.
  const int64_t max_batch = batches.back();
  const size_t small_bytes = static_cast<size_t>(max_batch) *
                             (static_cast<size_t>(2 * s.n_heads * hd) * 2 +       // q, out
                              static_cast<size_t>(s.capacity) +                   // key mask
                              static_cast<size_t>(kSwaSequenceFields) * 4 +       // sequences
                              static_cast<size_t>((1 + s.n_heads) * total) * 4);  // selected, probs
  const size_t arena_bytes =
      gpu::attention_decode_max_workspace_bytes(max_batch, 1, s.n_heads, hd) + small_bytes +
      (size_t{16} << 20);  // alignment
  GpuDevice device(current_device(), arena_bytes);
  const cudaStream_t stream = device.compute_stream();

  std::vector<GpuAttentionRate> rates;
  uint64_t seed = 100;
  for (const int64_t batch : batches) {
    GpuOps ops(device);  // per batch: its workspace goes with it, the arena starts empty
    const OwnedTensor q =
        allocate_tensor(device, DType::kF16, {batch, 1, s.n_heads, hd}, "calibration queries");
    const OwnedTensor out =
        allocate_tensor(device, DType::kF16, {batch, 1, s.n_heads, hd}, "calibration output");
    const OwnedTensor mask =
        allocate_tensor(device, DType::kU8, {batch, s.capacity}, "calibration key mask");
    const OwnedTensor sequences =
        allocate_tensor(device, DType::kI32, {batch, kSwaSequenceFields}, "calibration SWA plan");
    const OwnedTensor selected =
        allocate_tensor(device, DType::kI32, {batch, 1, total}, "calibration SWA selection");
    const OwnedTensor probs =
        allocate_tensor(device, DType::kF32, {batch, s.n_heads, total}, "calibration SWA weights");
    gpu::fill_random_f16(q.tensor.data(), q.tensor.numel(), seed++, stream);
    ALISA_CUDA_CHECK(cudaMemsetAsync(mask.tensor.data(), 1, mask.tensor.n_bytes(), stream));
    const std::vector<SwaSequence> plan(static_cast<size_t>(batch), sequence);
    std::vector<int32_t> sets;
    for (int64_t b = 0; b < batch; ++b) sets.insert(sets.end(), one_set.begin(), one_set.end());
    ALISA_CUDA_CHECK(cudaMemcpyAsync(sequences.tensor.data(), plan.data(),
                                     sequences.tensor.n_bytes(), cudaMemcpyHostToDevice, stream));
    ALISA_CUDA_CHECK(cudaMemcpyAsync(selected.tensor.data(), sets.data(), selected.tensor.n_bytes(),
                                     cudaMemcpyHostToDevice, stream));
    ALISA_CUDA_CHECK(cudaStreamSynchronize(stream));
    SwaState swa;
    swa.sequences = sequences.tensor;
    swa.selected = selected.tensor;
    swa.probs = probs.tensor;
    swa.mode = SwaScore::kRecent;  // sparse_attention reads no score

    // One unit's K then V, each [capacity, batch, n_kv_heads, head_dim]; copies of it rotate so
    // that the L2 cache does not serve the sparse reads (the fewest bytes) again.
    const size_t part_bytes = static_cast<size_t>(s.capacity * batch * row) * 2;
    const int64_t sparse_bytes = batch * total * row * 2 * 2;
    const int64_t copies = std::clamp<int64_t>((2 * l2_bytes + sparse_bytes - 1) / sparse_bytes, 1,
                                               kMaxAttentionCopies);
    const size_t cache_bytes = static_cast<size_t>(copies) * 2 * part_bytes;
    // As BlockRunner::kv_view: the token-major part viewed [batch, capacity, heads, head_dim],
    // then the step's [0, past + 1) as layer_attend slices it.
    auto kv_view = [&](char* data) {
      return Tensor(data, &device, DType::kF16, {s.capacity, batch, s.n_kv_heads, hd})
          .transpose(0, 1)
          .slice(1, 0, past + 1);
    };
    // GB/s of `attend(copy's K, V)` reading `tokens` tokens per sequence: the copies once each
    // (the warm-up also sizes the decode workspace), then a run of about
    // kAttentionTargetSeconds, median of kRepeats after a warm-up.
    auto rate = [&](char* caches, int64_t tokens,
                    const std::function<void(const Tensor& k, const Tensor& v)>& attend) {
      int64_t next = 0;
      auto run = [&](int64_t iterations) {
        for (int64_t i = 0; i < iterations; ++i, ++next) {
          char* unit = caches + static_cast<size_t>(next % copies) * 2 * part_bytes;
          attend(kv_view(unit), kv_view(unit + part_bytes));
        }
      };
      run(copies);
      ALISA_CUDA_CHECK(cudaStreamSynchronize(stream));
      const double once = std::max(event_seconds(stream, [&] { run(1); }), 1e-7);
      const int64_t iterations =
          std::clamp<int64_t>(std::llround(std::ceil(kAttentionTargetSeconds / once)), 1, 1000);
      const double seconds = median_event_seconds(stream, [&] { run(iterations); }) / iterations;
      return gbps(static_cast<double>(batch * tokens * row) * 2 * 2, seconds);  // K and V, f16
    };
    auto dense = [&](const Tensor& k, const Tensor& v) {
      ops.attention(q.tensor, k, v, mask.tensor, past, scale, out.tensor);
    };
    auto sparse = [&](const Tensor& k, const Tensor& v) {
      ops.sparse_attention(q.tensor, k, v, swa, scale, out.tensor);
    };

    GpuAttentionRate& r = rates.emplace_back();
    r.batch = batch;
    {
      const auto caches = device_memory(cache_bytes);
      gpu::fill_random_f16(caches.get(), static_cast<int64_t>(cache_bytes / 2), seed++, stream);
      r.dense_gbps = rate(caches.get(), s.capacity, dense);
      r.sparse_gbps = rate(caches.get(), total, sparse);
    }
    {
      // A CPU-resident cache that SWA reads in place: pinned and mapped like the CPU tier
      // (PinnedHostDevice), attended through its device address (BlockRunner::mapped).
      const auto host = host_memory(cache_bytes, true);
      void* mapped = nullptr;
      ALISA_CUDA_CHECK(cudaHostGetDevicePointer(&mapped, host.get(), 0));
      gpu::fill_random_f16(mapped, static_cast<int64_t>(cache_bytes / 2), seed++, stream);
      r.mapped_sparse_gbps = rate(static_cast<char*>(mapped), total, sparse);
    }  // the timed runs waited for their work: nothing still reads what goes here
  }
  return rates;
}

void measure_gpu(const GpuCalibrationSizes& sizes, const std::vector<GemmShape>& shapes,
                 HardwareProfile& p, const std::function<void(const std::string&)>& progress) {
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  ALISA_CUDA_CHECK(cudaSetDevice(0));
  cudaDeviceProp properties{};
  ALISA_CUDA_CHECK(cudaGetDeviceProperties(&properties, 0));
  p.gpu = properties.name;
  size_t free_bytes = 0, total_bytes = 0;
  ALISA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  p.gpu_memory_bytes = total_bytes;

  say(str("GPU ", p.gpu, ": pinned copies of ", bytes_text(sizes.pinned_bytes)));
  const CopyRates pinned = measure_copy_rates(sizes.pinned_bytes, true);
  p.h2d_pinned = pinned.h2d;
  p.d2h_pinned = pinned.d2h;
  say(str("GPU: pageable copies of ", bytes_text(sizes.pageable_bytes)));
  const CopyRates pageable = measure_copy_rates(sizes.pageable_bytes, false);
  p.h2d_pageable = pageable.h2d;
  p.d2h_pageable = pageable.d2h;
  say(str("GPU: mapped reads and writes of ", bytes_text(sizes.mapped_bytes)));
  const MappedRates mapped = measure_mapped_rates(sizes.mapped_bytes);
  p.mapped_read_gbps = mapped.read_gbps;
  p.mapped_write_gbps = mapped.write_gbps;
  say(str("GPU: device memory, a copy of ", bytes_text(sizes.device_copy_bytes)));
  p.gpu_memory_gbps = measure_gpu_memory_gbps(sizes.device_copy_bytes);
  say(str("GPU: ", sizes.launches, " kernel launches"));
  p.gpu_launch_us = measure_launch_us(sizes.launches);
  say(str("GPU: f16 GEMM, ", shapes.size(), " matrix shapes x ", sizes.gemm_m.size(),
          " token counts"));
  p.gemm = measure_gemm_rates(shapes, sizes.gemm_m);
  const GpuAttentionShape attention;
  say(str("GPU: decode attention, ", attention.n_heads, " heads x ", attention.head_dim, ", ",
          attention.capacity, " cached tokens, ", sizes.gpu_attention_batches.size(),
          " batch sizes"));
  p.gpu_attention = measure_gpu_attention(attention, sizes.gpu_attention_batches);
}

}  // namespace alisa
