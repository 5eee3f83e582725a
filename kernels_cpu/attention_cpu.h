// Causal grouped-query attention over a KV cache on the CPU, float32, parallel over TBB workers.
#pragma once

#include "runtime/kernel_params.h"

namespace alisa {

// Requires key_mask, q_start + n_q <= n_kv_tokens and n_heads a multiple of n_kv_heads. Runs in
// the caller's TBB arena; safe to call from a TBB worker (it never calls oneDNN).
void attention_cpu(const AttentionParams& p);

}  // namespace alisa
