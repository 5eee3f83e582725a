// Sparse Window Attention on the GPU (../shared/design/SWA.md; params and exact rules:
// runtime/base/kernel_params.h). The same token sets as kernels_cpu/swa_cpu on equal scores, the
// same weights and scores within float tolerance. No workspace: everything goes to the params'
// buffers.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// One block per (sequence, query heads sharing a KV head and a selection): each selected K and V
// row is read once per block (they may be mapped host memory), softmax in float32. head_dim <= 256.
// Selected tokens below recomputed_below are read from the recomputed K/V rows (Phase III).
void sparse_attention(const SparseAttentionParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
