// Token sampling per row of logits: greedy, or temperature / top-k / top-p and a seeded draw.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// Exactly SamplingParams' rule (the reference's): logits, rng_keys and out_tokens live on the
// device; vocab < 2^23. One block per row, no sort: the top-k and top-p cuts are found by radix
// selection on order-preserving keys of the scaled logits, probabilities are exp(z - max) in
// 2^-40 fixed point, so every sum is exact and the result does not depend on thread timing.
// NaN logits count as -inf.
void sample(const SamplingParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
