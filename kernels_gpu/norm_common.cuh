// The row-normalisation kernel behind layer_norm.cu and rms_norm.cu (included by those only).
#pragma once

#include "kernels_gpu/device_common.cuh"
#include "kernels_gpu/dispatch.cuh"
#include "runtime/base/kernel_params.h"

namespace alisa::gpu::detail {

// One block per row (grid-stride over rows). The sum s = x (+ residual) is kept in float in
// dynamic shared memory ([dim] floats), so the statistics and the output see it unrounded and
// `out` / `residual_out` may alias `x`: every read of x precedes the first write of out.
// LayerNorm uses two passes (mean, then the centred variance) to avoid cancellation.
template <typename T, bool kRms>
__global__ void norm_kernel(NormParams p, bool vec) {
  extern __shared__ float4 row_smem[];
  float* row = reinterpret_cast<float*>(row_smem);  // [dim]
  __shared__ float scratch[kWarpSize];
  constexpr int kN = kVec<T>;
  const T* x = static_cast<const T*>(p.x);
  const T* residual = static_cast<const T*>(p.residual);
  T* residual_out = static_cast<T*>(p.residual_out);
  const T* weight = static_cast<const T*>(p.weight);
  const T* bias = static_cast<const T*>(p.bias);
  T* out = static_cast<T*>(p.out);
  const int64_t dim = p.dim;
  const int64_t n_chunks = vec ? dim / kN : dim;  // work items: vectors or elements

  for (int64_t r = blockIdx.x; r < p.n_rows; r += gridDim.x) {
    const int64_t base = r * dim;
    float acc = 0.0f;
    for (int64_t c = threadIdx.x; c < n_chunks; c += blockDim.x) {
      if (vec) {
        float s[kN];
        load_vec(x + base + c * kN, s);
        if (residual != nullptr) {
          float b[kN];
          load_vec(residual + base + c * kN, b);
#pragma unroll
          for (int i = 0; i < kN; ++i) s[i] += b[i];
        }
        if (residual_out != nullptr) store_vec(residual_out + base + c * kN, s);
#pragma unroll
        for (int i = 0; i < kN; ++i) {
          row[c * kN + i] = s[i];
          acc += kRms ? s[i] * s[i] : s[i];
        }
      } else {
        float s = to_float(x[base + c]);
        if (residual != nullptr) s += to_float(residual[base + c]);
        if (residual_out != nullptr) residual_out[base + c] = from_float<T>(s);
        row[c] = s;
        acc += kRms ? s * s : s;
      }
    }
    const float total = block_sum(acc, scratch);
    float mean = 0.0f;
    float inv = 0.0f;
    if (kRms) {
      inv = rsqrtf(total / static_cast<float>(dim) + p.eps);
    } else {
      mean = total / static_cast<float>(dim);
      float sq = 0.0f;
      for (int64_t e = threadIdx.x; e < dim; e += blockDim.x) {  // any order: same rows
        const float d = row[e] - mean;
        sq += d * d;
      }
      inv = rsqrtf(block_sum(sq, scratch) / static_cast<float>(dim) + p.eps);
    }
    for (int64_t c = threadIdx.x; c < n_chunks; c += blockDim.x) {
      if (vec) {
        float w[kN], o[kN];
        load_vec(weight + c * kN, w);
#pragma unroll
        for (int i = 0; i < kN; ++i) o[i] = (row[c * kN + i] - mean) * inv * w[i];
        if (bias != nullptr) {
          float b[kN];
          load_vec(bias + c * kN, b);
#pragma unroll
          for (int i = 0; i < kN; ++i) o[i] += b[i];
        }
        store_vec(out + base + c * kN, o);
      } else {
        float o = (row[c] - mean) * inv * to_float(weight[c]);
        if (bias != nullptr) o += to_float(bias[c]);
        out[base + c] = from_float<T>(o);
      }
    }
    __syncthreads();  // the next row rewrites `row`
  }
}

template <bool kRms>
void launch_norm(const NormParams& p, cudaStream_t stream, const char* name) {
  assert_float_dtype(p.dtype, name);
  ALISA_ASSERT(p.n_rows > 0 && p.dim > 0, name, ": empty shape");
  ALISA_ASSERT(p.x != nullptr && p.weight != nullptr && p.out != nullptr, name, ": null pointer");
  ALISA_ASSERT(kRms ? p.bias == nullptr : true, name, ": RMSNorm takes no bias");
  ALISA_ASSERT(p.eps >= 0.0f, name, ": negative eps");
  const int n_vec = vec_elems(p.dtype);
  const bool vec = p.dim % n_vec == 0 && aligned16(p.x) && aligned16(p.weight) &&
                   aligned16(p.out) && (p.residual == nullptr || aligned16(p.residual)) &&
                   (p.residual_out == nullptr || aligned16(p.residual_out)) &&
                   (p.bias == nullptr || aligned16(p.bias));
  const int threads = threads_for_row(vec ? p.dim / n_vec : p.dim, 512);
  const size_t smem = static_cast<size_t>(p.dim) * sizeof(float);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(p.n_rows, 65535));
  dispatch_float_dtype(p.dtype, name, [&](auto t) {
    const auto kernel = norm_kernel<typename decltype(t)::type, kRms>;
    allow_dynamic_smem(kernel, smem);
    kernel<<<blocks, threads, smem, stream>>>(p, vec);
  });
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu::detail
