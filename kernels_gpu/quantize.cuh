// int4 group-wise weight dequantisation and int8 per-row KV (de)quantisation on the GPU (format:
// runtime/base/kernel_params.h). Bitwise equal to kernels_cpu/quantize_cpu's results.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

void dequantize_int4_gpu(const DequantizeInt4Params& p, cudaStream_t stream);
void quantize_int8_gpu(const QuantizeInt8Params& p, cudaStream_t stream);
void dequantize_int8_gpu(const DequantizeInt8Params& p, cudaStream_t stream);

}  // namespace alisa::gpu
