// Sparse Window Attention on the GPU (../shared/design/SWA.md; params and exact rules:
// runtime/base/kernel_params.h). The same token sets as kernels_cpu/swa_cpu on equal scores, the
// same weights and scores within float tolerance. No workspace: everything goes to the params'
// buffers.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// One block per (sequence, group): radix select (4 passes of 8 bits over an order-preserving key
// of the score) of the top total - local candidates, ties to the lower index, then an ordered
// compaction, so selected[b, g, :total] comes out ascending. Entries past total are left alone.
void swa_select(const SwaSelectParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
