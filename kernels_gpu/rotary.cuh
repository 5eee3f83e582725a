// Rotary position embedding (Hugging Face rotate_half convention), in place.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// f16, bf16 or f32. position_ids and inv_freq live on the device. The angle position * inv_freq[i]
// is Hugging Face's float32 product (as the reference defines it); its sine and cosine are exact to
// a few ulp even for long positions.
void rotary(const RotaryParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
