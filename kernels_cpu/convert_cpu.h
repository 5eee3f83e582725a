// Elementwise conversion between f32, f16 and bf16 on the CPU.
#pragma once

#include "runtime/base/kernel_params.h"

namespace alisa {

void convert_cpu(const ConvertParams& p);

}  // namespace alisa
