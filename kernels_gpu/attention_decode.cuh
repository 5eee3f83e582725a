// Split-K decode attention: few queries (typically one per sequence) over a long KV cache.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// Same semantics and dtype rules as attention_prefill (see attention_prefill.cuh); any n_q works,
// but it pays off for n_q * (n_heads / n_kv_heads) <= 8. The keys are split into chunks; one
// block per (chunk, batch, kv head, group of <= 8 query rows) writes a partial max / sum /
// output to `workspace`, and a second kernel merges the chunks by log-sum-exp. The split count
// depends only on the shapes (not on the device), so results are reproducible everywhere.

// How many key chunks the launch uses for these params (>= 1).
int64_t attention_decode_num_splits(const AttentionParams& p);

// Workspace bytes the launch needs for these params: reads only batch, n_q, n_heads, n_kv_heads,
// head_dim, n_kv_tokens and q_start.
size_t attention_decode_workspace_bytes(const AttentionParams& p);

// An upper bound of attention_decode_workspace_bytes over every n_kv_tokens and q_start, for
// allocating once.
size_t attention_decode_max_workspace_bytes(int64_t batch, int64_t n_q, int64_t n_heads,
                                            int64_t head_dim);

// `workspace`: device memory of at least attention_decode_workspace_bytes(p) bytes, 16-byte
// aligned, not used by anything else until this launch's work on `stream` is done.
void attention_decode(const AttentionParams& p, void* workspace, size_t workspace_bytes,
                      cudaStream_t stream);

}  // namespace alisa::gpu
