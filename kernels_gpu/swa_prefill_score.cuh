// Sparse Window Attention on the GPU (../shared/design/SWA.md; params and exact rules:
// runtime/base/kernel_params.h). The same token sets as kernels_cpu/swa_cpu on equal scores, the
// same weights and scores within float tolerance. No workspace: everything goes to the params'
// buffers.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// A cluster of 8 blocks per (sequence, group), the keys striped over the blocks: each block
// computes partial log-sum-exps of its keys for every (head, row) pair, the cluster merges them
// through distributed shared memory, then each block sums the weights of its keys.
void swa_prefill_score(const SwaPrefillScoreParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
