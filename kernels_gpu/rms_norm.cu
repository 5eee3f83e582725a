#include "kernels_gpu/rms_norm.cuh"

#include "kernels_gpu/norm_common.cuh"

namespace alisa::gpu {

void rms_norm(const NormParams& p, cudaStream_t stream) {
  detail::launch_norm<true>(p, stream, "rms_norm");
}

}  // namespace alisa::gpu
