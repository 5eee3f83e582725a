#include "kernels_gpu/convert.cuh"
#include "kernels_gpu/device_common.cuh"
#include "kernels_gpu/dispatch.cuh"

namespace alisa::gpu {
namespace {

template <typename From, typename To>
__global__ void convert_kernel(const From* __restrict__ x, To* __restrict__ out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = from_float<To>(to_float(x[i]));
  }
}

template <typename From, typename To>
void launch(const ConvertParams& p, cudaStream_t stream) {
  constexpr int kThreads = 256;
  convert_kernel<From, To><<<grid_for(p.n, kThreads), kThreads, 0, stream>>>(
      static_cast<const From*>(p.x), static_cast<To*>(p.out), p.n);
}

}  // namespace

void convert(const ConvertParams& p, cudaStream_t stream) {
  ALISA_ASSERT(p.n > 0 && p.x != nullptr && p.out != nullptr, "convert: empty or null");
  assert_float_dtype(p.x_dtype, "convert x");
  assert_float_dtype(p.out_dtype, "convert out");
  dispatch_float_dtype(p.x_dtype, "convert x", [&](auto from) {
    dispatch_float_dtype(p.out_dtype, "convert out", [&](auto to) {
      launch<typename decltype(from)::type, typename decltype(to)::type>(p, stream);
    });
  });
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu
