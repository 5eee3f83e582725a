#include "tests/support/test_devices.h"

#include <catch2/catch.hpp>

namespace alisa::test {

std::vector<DeviceChoice> test_devices() {
  std::vector<DeviceChoice> devices = {DeviceChoice::kCpu};
  if (gpu_available()) devices.push_back(DeviceChoice::kGpu);
  return devices;
}

const char* device_name(DeviceChoice device) {
  switch (device) {
    case DeviceChoice::kCpu:
      return "CPU";
    case DeviceChoice::kGpu:
      return "GPU";
    case DeviceChoice::kAuto:
      break;
  }
  return "auto";
}

bool skip_without_gpu() {
  if (gpu_available()) return false;
  WARN("no CUDA device: this GPU test is skipped");
  return true;
}

}  // namespace alisa::test
