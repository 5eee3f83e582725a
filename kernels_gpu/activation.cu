#include "kernels_gpu/activation.cuh"

#include "kernels_gpu/dispatch.cuh"
#include "kernels_gpu/elementwise.cuh"

namespace alisa::gpu {
namespace {

__device__ __forceinline__ float apply(Activation a, float x) {
  switch (a) {
    case Activation::kRelu:
      return x > 0.0f ? x : 0.0f;
    case Activation::kGelu:
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case Activation::kGeluTanh: {
      const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + tanhf(inner));
    }
    case Activation::kSilu:
      return x / (1.0f + expf(-x));
  }
  return x;
}

// Elementwise (elementwise.cuh): act(x), times up where given.
template <typename T>
__global__ void activation_kernel(ActivationParams p, int64_t n_vec) {
  constexpr int kN = kVec<T>;
  const T* x = static_cast<const T*>(p.x);
  const T* up = static_cast<const T*>(p.up);
  T* out = static_cast<T*>(p.out);
  elementwise_loop<T>(
      p.n, n_vec,
      [=](int64_t c) {
        float v[kN];
        load_vec(x + c * kN, v);
#pragma unroll
        for (int i = 0; i < kN; ++i) v[i] = apply(p.activation, v[i]);
        if (up != nullptr) {
          float u[kN];
          load_vec(up + c * kN, u);
#pragma unroll
          for (int i = 0; i < kN; ++i) v[i] *= u[i];
        }
        store_vec(out + c * kN, v);
      },
      [=](int64_t e) {
        float v = apply(p.activation, to_float(x[e]));
        if (up != nullptr) v *= to_float(up[e]);
        out[e] = from_float<T>(v);
      });
}

}  // namespace

void activation(const ActivationParams& p, cudaStream_t stream) {
  assert_float_dtype(p.dtype, "activation");
  ALISA_ASSERT(p.n > 0, "activation: empty shape");
  ALISA_ASSERT(p.x != nullptr && p.out != nullptr, "activation: null pointer");
  const bool vec = aligned16(p.x) && aligned16(p.out) && (p.up == nullptr || aligned16(p.up));
  const ElementwiseLaunch l = elementwise_launch(p.dtype, p.n, vec);
  dispatch_float_dtype(p.dtype, "activation", [&](auto t) {
    using T = typename decltype(t)::type;
    activation_kernel<T><<<l.blocks, kElementwiseThreads, 0, stream>>>(p, l.n_vec);
  });
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu
