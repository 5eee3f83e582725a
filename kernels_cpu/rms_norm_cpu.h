// RMSNorm over the last dimension on the CPU, float32, with the optional fused residual add.
#pragma once

#include "runtime/base/kernel_params.h"

namespace alisa {

// Hugging Face LlamaRMSNorm: weight * (x * rsqrt(mean(x^2) + eps)); bias must be null. When
// residual_out is given it gets x + residual (x alone when there is no residual). out and
// residual_out may alias x or residual.
void rms_norm_cpu(const NormParams& p);

}  // namespace alisa
