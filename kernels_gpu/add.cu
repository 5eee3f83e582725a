#include "kernels_gpu/add.cuh"

#include "kernels_gpu/device_common.cuh"
#include "kernels_gpu/dispatch.cuh"

namespace alisa::gpu {
namespace {

// Grid-stride: 16-byte vectors over the first n_vec * kN elements, then the scalar tail.
template <typename T>
__global__ void add_kernel(AddParams p, int64_t n_vec) {
  constexpr int kN = kVec<T>;
  const T* a = static_cast<const T*>(p.a);
  const T* b = static_cast<const T*>(p.b);
  T* out = static_cast<T*>(p.out);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t c = first; c < n_vec; c += stride) {
    float u[kN], v[kN];
    load_vec(a + c * kN, u);
    load_vec(b + c * kN, v);
#pragma unroll
    for (int i = 0; i < kN; ++i) u[i] += v[i];
    store_vec(out + c * kN, u);
  }
  for (int64_t e = n_vec * kN + first; e < p.n; e += stride) {
    out[e] = from_float<T>(to_float(a[e]) + to_float(b[e]));
  }
}

}  // namespace

void add(const AddParams& p, cudaStream_t stream) {
  assert_float_dtype(p.dtype, "add");
  ALISA_ASSERT(p.n > 0, "add: empty shape");
  ALISA_ASSERT(p.a != nullptr && p.b != nullptr && p.out != nullptr, "add: null pointer");
  const bool f16 = p.dtype == DType::kF16;
  const int n_per_vec = f16 ? kVec<__half> : kVec<float>;
  const bool vec = aligned16(p.a) && aligned16(p.b) && aligned16(p.out);
  const int64_t n_vec = vec ? p.n / n_per_vec : 0;
  constexpr int kThreads = 256;
  const unsigned blocks = grid_for(n_vec + (p.n - n_vec * n_per_vec), kThreads);
  dispatch_float_dtype(p.dtype, "add", [&](auto t) {
    add_kernel<typename decltype(t)::type><<<blocks, kThreads, 0, stream>>>(p, n_vec);
  });
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu
