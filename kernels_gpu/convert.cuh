// Elementwise conversion between f32, f16 and bf16 on the GPU (logits to float32 for sampling).
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

void convert(const ConvertParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
