// Sparse Window Attention on the CPU over the kernel params of runtime/base/kernel_params.h: the
// float32 reference that the GPU kernels must match (the same token sets on inputs without
// near-ties, logits within float16 tolerance) and the kernels of CPU-attended caches. Parallel over
// (sequence, group) or (sequence, head) on the caller's TBB arena; each S row is written by one
// task in a fixed order, so results do not depend on the thread count.
#pragma once

#include "runtime/base/kernel_params.h"

namespace alisa {

void swa_select_cpu(const SwaSelectParams& p);
void sparse_attention_cpu(const SparseAttentionParams& p);
void swa_update_score_cpu(const SwaScoreUpdateParams& p);
void swa_prefill_score_cpu(const SwaPrefillScoreParams& p);
void swa_gather_hidden_cpu(const SwaGatherHiddenParams& p);

}  // namespace alisa
