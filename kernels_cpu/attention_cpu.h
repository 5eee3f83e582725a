// Causal grouped-query attention over a KV cache on the CPU, parallel over TBB workers. q and out
// are float32 or float16 (AttentionParams::dtype), K and V float32 or float16 (kv_dtype), in any
// combination; float16 is widened to float32 as it loads and all arithmetic is float32.
#pragma once

#include <cstdint>

#include "runtime/base/kernel_params.h"

namespace alisa {

// Requires key_mask, q_start + n_q <= n_kv_tokens and n_heads a multiple of n_kv_heads. Runs in
// the caller's TBB arena; safe to call from a TBB worker (it never calls oneDNN).
void attention_cpu(const AttentionParams& p);

// Instruction sets of the float16-KV path, in increasing order; attention_cpu takes the best this
// CPU has. (The float32-KV path runs the AVX2 or baseline clone picked when the library loads.)
enum class AttentionIsa : uint8_t { kBaseline, kAvx2, kAvx512 };
AttentionIsa attention_cpu_best_isa();

// attention_cpu with the float16-KV path on `isa` (at most attention_cpu_best_isa()): lets tests
// and benchmarks run every path on one machine.
void attention_cpu(const AttentionParams& p, AttentionIsa isa);

}  // namespace alisa
