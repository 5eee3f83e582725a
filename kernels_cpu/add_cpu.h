// Elementwise addition on the CPU, float32.
#pragma once

#include "runtime/base/kernel_params.h"

namespace alisa {

void add_cpu(const AddParams& p);

}  // namespace alisa
