// The compute devices of the device-parametrised runtime and end-to-end tests: one set of test
// cases runs on the CPU, and on the GPU too where one is present.
#pragma once

#include <vector>

#include "runtime/ops/backend.h"

namespace alisa::test {

// {kCpu}, plus kGpu where this build has GPU kernels and a CUDA device is present (the
// engine's own gpu_available()). In a test case:
//   const DeviceChoice device = GENERATE(from_range(test_devices()));
std::vector<DeviceChoice> test_devices();

// "CPU" or "GPU", for INFO lines and messages.
const char* device_name(DeviceChoice device);

// For a GPU-only test case ([gpu]) outside the GPU kernel tests' binary: true, after a WARN that
// says so, where no CUDA device is present; the test then returns (Catch2 2.x has no SKIP).
bool skip_without_gpu();

}  // namespace alisa::test
