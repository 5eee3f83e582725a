// Token sampling on the CPU: greedy, or temperature + top-k + top-p + a counter-based draw.
#pragma once

#include "runtime/base/kernel_params.h"

namespace alisa {

// Top-p probabilities are those of the softmax over the tokens top-k kept (HF's order).
void sampling_cpu(const SamplingParams& p);

}  // namespace alisa
