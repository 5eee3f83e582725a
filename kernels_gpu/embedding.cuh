// Token (and learned position) embedding lookup on the GPU.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// out[i, :] = table[token_ids[i], :] (+ position_table[position_ids[i], :]); dtype f16, bf16 or
// f32. token_ids / position_ids live on the device. An id out of range yields a row of NaN (the
// kernel cannot throw), so the bug shows in the logits instead of reading stray memory.
void embedding(const EmbeddingParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
