// Shared by attention_decode.cu and attention_decode_16bit.cu (included by those only): the block
// shape of the split kernels, programmatic dependent launch, and the 16-bit split kernel's
// launcher.
#pragma once

#include "kernels_gpu/attention_common.cuh"

namespace alisa::gpu::detail::decode {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kMaxRows = 8;  // query rows (query x head of the group) per block

// Programmatic dependent launch: the split kernel lets the merge kernel be scheduled early; the
// merge kernel waits for the split kernel to complete (and its writes to be visible) before
// reading anything. Both are no-ops when the launch carries no programmatic dependency.
__device__ __forceinline__ void launch_dependents() {
#if defined(__CUDA_ARCH__)
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wait_for_primary() {
#if defined(__CUDA_ARCH__)
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

// Whether decode_16bit_kernel takes these params: f16 or bf16, head_dim % 8 == 0, 16-byte aligned
// rows.
bool applies_16bit(const AttentionParams& p);

// decode_16bit_kernel on `grid` (n_splits, n_kv_heads * row chunks, batch), keys_per_split keys a
// block: the output itself when n_splits == 1, else the partials o_part, m_part and l_part (the
// workspace layout of attention_decode.cu).
void launch_16bit_split(const AttentionParams& p, int keys_per_split, int n_splits, float* o_part,
                        float* m_part, float* l_part, dim3 grid, cudaStream_t stream);

}  // namespace alisa::gpu::detail::decode
