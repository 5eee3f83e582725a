// Sparse Window Attention on the GPU (../shared/design/SWA.md; params and exact rules:
// runtime/base/kernel_params.h). The same token sets as kernels_cpu/swa_cpu on equal scores, the
// same weights and scores within float tolerance. No workspace: everything goes to the params'
// buffers.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// Phase III: one block per (sequence, row): a bitwise copy of the kept hidden state (or zeros) in
// the widest aligned words, and its position. hidden may be mapped host memory (plain loads).
void swa_gather_hidden(const SwaGatherHiddenParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
