// Kernels of `alisa calibrate` (runtime/calibrate/calibrate_gpu.h): streaming reads and writes of
// memory the GPU reaches through a mapping, an empty kernel to time launches, and a fill of GEMM
// operands.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace alisa::gpu {

// Reads n_bytes (a multiple of 16, src 16-byte aligned) in 16-byte vectors on `blocks` blocks,
// folding them into *sink (written only for an impossible fold: the reads cannot be dropped).
void stream_read(const void* src, size_t n_bytes, uint32_t* sink, unsigned blocks,
                 cudaStream_t stream);
// Writes n_bytes (as above) of a pattern in 16-byte vectors on `blocks` blocks.
void stream_write(void* dst, size_t n_bytes, unsigned blocks, cudaStream_t stream);
// `count` launches of a kernel that does nothing, back to back.
void launch_empty_kernels(int count, cudaStream_t stream);
// n float16 values in [-1, 1) from `seed`.
void fill_random_f16(void* dst, int64_t n, uint64_t seed, cudaStream_t stream);

}  // namespace alisa::gpu
