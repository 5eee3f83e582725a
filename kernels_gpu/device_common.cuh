// Device helpers shared by the kernels of this folder (included by .cu files only): dtype
// conversions, 16-byte vector access, block reductions and launch helpers.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels_gpu/cuda_check.cuh"
#include "runtime/base/common.h"
#include "runtime/base/dtype.h"

namespace alisa::gpu {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float to_float(float v) {
  return v;
}
__device__ __forceinline__ float to_float(__half v) {
  return __half2float(v);
}
__device__ __forceinline__ float to_float(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// The 16-bit float types (float16 and bfloat16): tensor-core and paired-conversion paths.
template <typename T>
constexpr bool kHalfWidth = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

// The two-element vector of a 16-bit float type.
template <typename T>
struct Pair;
template <>
struct Pair<__half> {
  using type = __half2;
};
template <>
struct Pair<__nv_bfloat16> {
  using type = __nv_bfloat162;
};

// Two floats rounded to T, packed in one 32-bit word (low element first).
template <typename T>
__device__ __forceinline__ uint32_t pack_pair(float lo, float hi) {
  typename Pair<T>::type h;
  if constexpr (std::is_same_v<T, __half>) {
    h = __floats2half2_rn(lo, hi);
  } else {
    h = __floats2bfloat162_rn(lo, hi);
  }
  return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ float quiet_nan() {
  return __int_as_float(0x7fc00000);
}

// Elements of T in one 16-byte vector.
template <typename T>
constexpr int kVec = 16 / static_cast<int>(sizeof(T));

// Loads kVec<T> elements from a 16-byte aligned address as floats.
template <typename T>
__device__ __forceinline__ void load_vec(const T* src, float (&dst)[kVec<T>]) {
  alignas(16) T e[kVec<T>];
  *reinterpret_cast<uint4*>(e) = *reinterpret_cast<const uint4*>(src);
#pragma unroll
  for (int i = 0; i < kVec<T>; ++i) dst[i] = to_float(e[i]);
}

// Stores kVec<T> floats, rounded to T, to a 16-byte aligned address.
template <typename T>
__device__ __forceinline__ void store_vec(T* dst, const float (&src)[kVec<T>]) {
  alignas(16) T e[kVec<T>];
#pragma unroll
  for (int i = 0; i < kVec<T>; ++i) e[i] = from_float<T>(src[i]);
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(e);
}

// out = a + b for kVec<T> elements at 16-byte aligned addresses, added as floats and rounded to T.
template <typename T>
__device__ __forceinline__ void add_vec(const T* a, const T* b, T* out) {
  float u[kVec<T>], v[kVec<T>];
  load_vec(a, u);
  load_vec(b, v);
#pragma unroll
  for (int i = 0; i < kVec<T>; ++i) u[i] += v[i];
  store_vec(out, u);
}

// kN 16-bit floats of type T (the kN / 2 pairs of `raw`, a uint2 or uint4 in registers) as
// floats.
template <typename T, int kN, typename Raw>
__device__ __forceinline__ void pairs_to_float(const Raw& raw, float (&dst)[kN]) {
  static_assert(kHalfWidth<T> && sizeof(Raw) == kN * sizeof(T), "kN 16-bit floats");
  const auto* h = reinterpret_cast<const typename Pair<T>::type*>(&raw);
#pragma unroll
  for (int i = 0; i < kN / 2; ++i) {
    float2 t;
    if constexpr (std::is_same_v<T, __half>) {
      t = __half22float2(h[i]);
    } else {
      t = __bfloat1622float2(h[i]);
    }
    dst[2 * i] = t.x;
    dst[2 * i + 1] = t.y;
  }
}

// Sum (max) over each group of kLanes consecutive lanes (a power of two, at most 32), by xor
// shuffles: every lane of the group gets the same result.
template <int kLanes = kWarpSize>
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = kLanes / 2; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

template <int kLanes = kWarpSize>
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = kLanes / 2; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// Sum over the block; every thread gets the result. blockDim.x must be a multiple of 32, and
// `scratch` holds 32 floats. Ends with a barrier, so scratch can be reused at once.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const int n_warps = blockDim.x / kWarpSize;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float w = lane < n_warps ? scratch[lane] : 0.0f;
    w = warp_sum(w);
    if (lane == 0) scratch[kWarpSize - 1] = w;
  }
  __syncthreads();
  const float total = scratch[kWarpSize - 1];
  __syncthreads();
  return total;
}

// ---- host side ---------------------------------------------------------------------------------

inline bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

__host__ __device__ inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Elements of `t` (f16, bf16 or f32) in one 16-byte vector.
inline int vec_elems(DType t) {
  return 16 / static_cast<int>(dtype_size(t));
}

// The smallest power of two >= n, at most `cap` (a power of two): rows per block of a kernel
// instantiated for 1, 2, 4, ..., cap rows.
inline int pow2_rows(int64_t n, int cap) {
  int rows = 1;
  while (rows < cap && rows < n) rows *= 2;
  return rows;
}

inline void assert_float_dtype(DType t, const char* what) {
  ALISA_ASSERT(t == DType::kF16 || t == DType::kBF16 || t == DType::kF32, what,
               ": the GPU kernels take f16, bf16 or f32, not ", dtype_name(t));
}

// Blocks for a grid-stride loop over n items: enough to fill the GPU, never more than needed.
inline unsigned grid_for(int64_t n_items, int threads) {
  return static_cast<unsigned>(std::clamp<int64_t>(ceil_div(n_items, threads), 1, 8192));
}

// Threads for one block per row of `units` work items: a multiple of 32 in [32, max_threads].
inline int threads_for_row(int64_t units, int max_threads) {
  return static_cast<int>(
      std::clamp<int64_t>(ceil_div(units, kWarpSize) * kWarpSize, kWarpSize, max_threads));
}

// Raises a kernel's dynamic shared-memory limit when it needs more than the default 48 KB.
template <typename Kernel>
void allow_dynamic_smem(Kernel kernel, size_t bytes) {
  if (bytes <= 48 * 1024) return;
  int device = 0;
  int optin = 0;
  ALISA_CUDA_CHECK(cudaGetDevice(&device));
  ALISA_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  ALISA_ASSERT(bytes <= static_cast<size_t>(optin), "kernel needs ", bytes,
               " bytes of shared memory, the device allows ", optin);
  ALISA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(bytes)));
}

}  // namespace alisa::gpu
