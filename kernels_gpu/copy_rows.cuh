// Strided copies as a kernel of the stream: device memory or mapped host memory on either side,
// without the DMA engines (a small copy there would wait behind bulk transfers).
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

void copy_rows(const CopyRowsParams& p, cudaStream_t stream);

}  // namespace alisa::gpu
