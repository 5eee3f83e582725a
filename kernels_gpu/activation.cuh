// Elementwise activations, optionally gated: out = act(x) (* up).
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// f16, bf16 or f32, computed in float. kGelu is the exact erf form, kGeluTanh the tanh
// approximation. out may alias x (or up).
void activation(const ActivationParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
