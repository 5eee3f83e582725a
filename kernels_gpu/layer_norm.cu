#include "kernels_gpu/layer_norm.cuh"

#include "kernels_gpu/norm_common.cuh"

namespace alisa::gpu {

void layer_norm(const NormParams& p, cudaStream_t stream) {
  detail::launch_norm<false>(p, stream, "layer_norm");
}

}  // namespace alisa::gpu
