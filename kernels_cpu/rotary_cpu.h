// Rotary position embedding in place on the CPU, float32, Hugging Face rotate_half convention.
#pragma once

#include "runtime/base/kernel_params.h"

namespace alisa {

// Angles are float32(position) * inv_freq[i] in float32, then cos/sin in float32, as HF does.
void rotary_cpu(const RotaryParams& p);

}  // namespace alisa
