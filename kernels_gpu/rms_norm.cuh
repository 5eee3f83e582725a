// RMSNorm: out = s / sqrt(mean(s^2) + eps) * weight, with s = x (+ residual).
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// f16, bf16 or f32; float32 statistics. When residual is given, s = x + residual and residual_out
// (if given) receives s rounded to the dtype. out and residual_out may alias x or residual. dim up
// to ~50k (s is staged in shared memory as float, so the output never sees it rounded).
void rms_norm(const NormParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
