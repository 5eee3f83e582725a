// Elementwise activations on the CPU, float32: relu, gelu (erf), gelu_tanh, silu, gated by `up`.
#pragma once

#include "runtime/base/kernel_params.h"

namespace alisa {

void activation_cpu(const ActivationParams& p);

}  // namespace alisa
