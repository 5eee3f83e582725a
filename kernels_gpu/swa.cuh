// Sparse Window Attention on the GPU (../shared/design/SWA.md; params and exact rules:
// runtime/base/kernel_params.h). The same token sets as kernels_cpu/swa_cpu on equal scores, the
// same weights and scores within float tolerance. No workspace: everything goes to the params'
// buffers.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// One block per (sequence, group): radix select (4 passes of 8 bits over an order-preserving key
// of the score) of the top total - local candidates, ties to the lower index, then an ordered
// compaction, so selected[b, g, :total] comes out ascending. Entries past total are left alone.
void swa_select(const SwaSelectParams& p, cudaStream_t stream);

// One block per (sequence, query heads sharing a KV head and a selection): each selected K and V
// row is read once per block (they may be mapped host memory), softmax in float32. head_dim <= 256.
// Selected tokens below recomputed_below are read from the recomputed K/V rows (Phase III).
void sparse_attention(const SparseAttentionParams& p, cudaStream_t stream);

// One block per (sequence, group); deterministic (no float atomics). With groups > 1 the shared
// ring counts are set by a second, tiny kernel once every group has read them.
void swa_update_score(const SwaScoreUpdateParams& p, cudaStream_t stream);

// A cluster of 8 blocks per (sequence, group), the keys striped over the blocks: each block
// computes partial log-sum-exps of its keys for every (head, row) pair, the cluster merges them
// through distributed shared memory, then each block sums the weights of its keys.
void swa_prefill_score(const SwaPrefillScoreParams& p, cudaStream_t stream);

// Phase III: one block per (sequence, row): a bitwise copy of the kept hidden state (or zeros) in
// the widest aligned words, and its position. hidden may be mapped host memory (plain loads).
void swa_gather_hidden(const SwaGatherHiddenParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
