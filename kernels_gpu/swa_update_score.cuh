// Sparse Window Attention on the GPU (../shared/design/SWA.md; params and exact rules:
// runtime/base/kernel_params.h). The same token sets as kernels_cpu/swa_cpu on equal scores, the
// same weights and scores within float tolerance. No workspace: everything goes to the params'
// buffers.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// One block per (sequence, group); deterministic (no float atomics). With groups > 1 the shared
// ring counts are set by a second, tiny kernel once every group has read them.
void swa_update_score(const SwaScoreUpdateParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
