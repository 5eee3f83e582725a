// int4 group-wise weight and int8 per-row KV compression on the CPU (see the params structs in
// runtime/base/kernel_params.h for the format). Dequantisation gives the same bits as the GPU's.
#pragma once

#include "runtime/base/kernel_params.h"

namespace alisa {

void quantize_int4_cpu(const QuantizeInt4Params& p);
void dequantize_int4_cpu(const DequantizeInt4Params& p);
void quantize_int8_cpu(const QuantizeInt8Params& p);
void dequantize_int8_cpu(const DequantizeInt8Params& p);

}  // namespace alisa
