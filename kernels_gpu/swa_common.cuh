// Shared by the SWA kernels (swa_select.cu, sparse_attention.cu, swa_update_score.cu,
// swa_prefill_score.cu, swa_gather_hidden.cu; included by those only): 4-element loads, the
// alignment test for them and the grid-limit check.
#pragma once

#include <initializer_list>

#include "kernels_gpu/device_common.cuh"

namespace alisa::gpu::detail {

// 4 consecutive elements as floats: 8 bytes (f16, bf16) or 16 bytes (f32), aligned to that size.
template <typename T>
__device__ __forceinline__ void load4(const T* src, float (&dst)[4]) {
  static_assert(kHalfWidth<T>);
  const uint2 raw = *reinterpret_cast<const uint2*>(src);  // one 8-byte load
  pairs_to_float<T>(raw, dst);
}

__device__ __forceinline__ void load4(const float* src, float (&dst)[4]) {
  const float4 v = *reinterpret_cast<const float4*>(src);
  dst[0] = v.x;
  dst[1] = v.y;
  dst[2] = v.z;
  dst[3] = v.w;
}

inline bool aligned_to(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

inline void check_grid(int64_t batch, int64_t y, const char* name) {
  ALISA_ASSERT(batch > 0 && batch <= 65535 && y > 0 && y <= 65535, name, ": batch ", batch, " or ",
               y, " blocks per sequence beyond grid limits");
}

// Rows of 4 elements of `dtype` from `base`, `stride` elements apart, are aligned for load4.
inline bool vec4_ok(const void* base, DType dtype, std::initializer_list<int64_t> strides) {
  if (!aligned_to(base, 4 * dtype_size(dtype))) return false;
  for (const int64_t s : strides) {
    if (s % 4 != 0) return false;
  }
  return true;
}

}  // namespace alisa::gpu::detail
