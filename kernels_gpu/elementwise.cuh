// The elementwise kernels' loop and launch shape (activation.cu, add.cu; included by .cu files
// only): a grid-stride loop over 16-byte vectors of the first n_vec * kVec<T> elements, then over
// the scalar tail; vectors only when every buffer is 16-byte aligned.
#pragma once

#include "kernels_gpu/device_common.cuh"

namespace alisa::gpu {

constexpr int kElementwiseThreads = 256;

// vec(c) for vectors c < n_vec (elements [c * kVec<T>, c * kVec<T> + kVec<T>)), then scalar(e)
// for the elements e >= n_vec * kVec<T> below n, each over the whole grid.
template <typename T, typename Vec, typename Scalar>
__device__ __forceinline__ void elementwise_loop(int64_t n, int64_t n_vec, Vec vec, Scalar scalar) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t c = first; c < n_vec; c += stride) vec(c);
  for (int64_t e = n_vec * kVec<T> + first; e < n; e += stride) scalar(e);
}

struct ElementwiseLaunch {
  int64_t n_vec = 0;    // 16-byte vectors (0 when a buffer is unaligned)
  unsigned blocks = 1;  // of kElementwiseThreads
};

// n elements of `dtype` (f16, bf16 or f32); `aligned`: every buffer is 16-byte aligned.
inline ElementwiseLaunch elementwise_launch(DType dtype, int64_t n, bool aligned) {
  const int n_per_vec = vec_elems(dtype);
  ElementwiseLaunch l;
  l.n_vec = aligned ? n / n_per_vec : 0;
  l.blocks = grid_for(l.n_vec + (n - l.n_vec * n_per_vec), kElementwiseThreads);
  return l;
}

}  // namespace alisa::gpu
