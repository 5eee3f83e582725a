// All data movement between host memory and a device's memory goes through here. On the CPU
// device these are plain copies; the GPU and the tiered offloading add streams and events.
#pragma once

#include "runtime/tensor.h"

namespace alisa {

// dst (contiguous, on its device) = n_bytes of host memory at src.
void copy_host_to_device(const Tensor& dst, const void* src);
// dst (host memory) = src (contiguous, on its device).
void copy_device_to_host(void* dst, const Tensor& src);

}  // namespace alisa
