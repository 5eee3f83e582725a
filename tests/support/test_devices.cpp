#include "tests/support/test_devices.h"

#include <catch2/catch.hpp>

namespace alisa::test {

std::vector<TestDevice> test_devices() {
  std::vector<TestDevice> devices = {{.device = DeviceChoice::kCpu}};
  if (gpu_available()) {
    devices.push_back({.device = DeviceChoice::kGpu, .dtype = GpuDtypeChoice::kF16});
    devices.push_back({.device = DeviceChoice::kGpu, .dtype = GpuDtypeChoice::kBF16});
  }
  return devices;
}

const char* device_name(const TestDevice& device) {
  if (!device.gpu()) return "CPU";
  return device.bf16() ? "GPU bf16" : "GPU f16";
}

bool skip_without_gpu() {
  if (gpu_available()) return false;
  WARN("no CUDA device: this GPU test is skipped");
  return true;
}

}  // namespace alisa::test
