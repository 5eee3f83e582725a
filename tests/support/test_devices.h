// The compute devices of the device-parametrised runtime and end-to-end tests: one set of test
// cases runs on the CPU (float32), and where a GPU is present on the GPU in float16 and in
// bfloat16 too.
#pragma once

#include <vector>

#include "runtime/ops/backend.h"

namespace alisa::test {

struct TestDevice {
  DeviceChoice device = DeviceChoice::kCpu;
  GpuDtypeChoice dtype = GpuDtypeChoice::kAuto;  // on the GPU: f16 or bf16

  bool gpu() const { return device == DeviceChoice::kGpu; }
  bool bf16() const { return gpu() && dtype == GpuDtypeChoice::kBF16; }
  // A tolerance: `cpu` for float32 runs, `f16` for float16 ones, and 8 times that for bfloat16
  // (8 significant bits to float16's 11: each rounding is 8 times coarser).
  double tolerance(double cpu, double f16) const { return !gpu() ? cpu : bf16() ? 8 * f16 : f16; }
  // The engine's backend on this device (n_threads: 0 for all cores).
  BackendOptions backend(int n_threads = 0) const {
    return {.device = device, .n_threads = n_threads, .gpu_dtype = dtype};
  }
};

inline constexpr TestDevice kCpuDevice{.device = DeviceChoice::kCpu};
inline constexpr TestDevice kGpuF16Device{.device = DeviceChoice::kGpu,
                                          .dtype = GpuDtypeChoice::kF16};

// The CPU, plus the GPU in f16 and in bf16 where this build has GPU kernels and a CUDA device
// is present (the engine's own gpu_available()). In a test case:
//   const TestDevice device = GENERATE(from_range(test_devices()));
std::vector<TestDevice> test_devices();

// "CPU", "GPU f16" or "GPU bf16", for INFO lines and messages.
const char* device_name(const TestDevice& device);

// For a GPU-only test case ([gpu]) outside the GPU kernel tests' binary: true, after a WARN that
// says so, where no CUDA device is present; the test then returns (Catch2 2.x has no SKIP).
bool skip_without_gpu();

}  // namespace alisa::test
