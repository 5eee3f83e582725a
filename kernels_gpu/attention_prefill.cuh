// Flash-attention-style prefill: causal, grouped-query, key-masked attention over a KV cache.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// AttentionParams exactly as documented there: query i sits at cache index q_start + i and sees
// keys [0, q_start + i] with mask 1 (a null key_mask means all ones); a query that sees no key
// gets zeros. dtype == kv_dtype, f16 (tensor cores, float32 softmax and accumulation) or f32
// (plain float math). head_dim <= 128, any sequence lengths. Strides are taken literally, in
// elements. out may be q itself; otherwise it must not overlap q, k or v. Masked or uncached
// K/V entries are never read, so they may hold anything.
void attention_prefill(const AttentionParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
