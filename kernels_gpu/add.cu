#include "kernels_gpu/add.cuh"

#include "kernels_gpu/dispatch.cuh"
#include "kernels_gpu/elementwise.cuh"

namespace alisa::gpu {
namespace {

// Elementwise (elementwise.cuh): a + b.
template <typename T>
__global__ void add_kernel(AddParams p, int64_t n_vec) {
  constexpr int kN = kVec<T>;
  const T* a = static_cast<const T*>(p.a);
  const T* b = static_cast<const T*>(p.b);
  T* out = static_cast<T*>(p.out);
  elementwise_loop<T>(
      p.n, n_vec, [=](int64_t c) { add_vec(a + c * kN, b + c * kN, out + c * kN); },
      [=](int64_t e) { out[e] = from_float<T>(to_float(a[e]) + to_float(b[e])); });
}

}  // namespace

void add(const AddParams& p, cudaStream_t stream) {
  assert_float_dtype(p.dtype, "add");
  ALISA_ASSERT(p.n > 0, "add: empty shape");
  ALISA_ASSERT(p.a != nullptr && p.b != nullptr && p.out != nullptr, "add: null pointer");
  const bool vec = aligned16(p.a) && aligned16(p.b) && aligned16(p.out);
  const ElementwiseLaunch l = elementwise_launch(p.dtype, p.n, vec);
  dispatch_float_dtype(p.dtype, "add", [&](auto t) {
    using T = typename decltype(t)::type;
    add_kernel<T><<<l.blocks, kElementwiseThreads, 0, stream>>>(p, l.n_vec);
  });
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu
