// LayerNorm over the last dimension on the CPU, float32, with the optional fused residual add.
#pragma once

#include "runtime/base/kernel_params.h"

namespace alisa {

// Biased variance (like torch.nn.LayerNorm); bias optional. When residual_out is given it gets
// x + residual (x alone when there is no residual). out and residual_out may alias x or residual.
void layer_norm_cpu(const NormParams& p);

}  // namespace alisa
