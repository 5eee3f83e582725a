// Elementwise addition.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// out = a + b, f16, bf16 or f32, summed in float and rounded once. out may alias a or b.
void add(const AddParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
