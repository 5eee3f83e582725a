#include "runtime/ops/backend.h"

#include "runtime/ops/cpu_ops.h"
#if ALISA_HAVE_CUDA
#include "runtime/core/gpu_device.h"
#include "runtime/ops/gpu_ops.h"
#endif

namespace alisa {

DeviceChoice parse_device_choice(const std::string& text, const std::string& what) {
  if (text == "auto") return DeviceChoice::kAuto;
  if (text == "cpu") return DeviceChoice::kCpu;
  if (text == "gpu") return DeviceChoice::kGpu;
  throw Error(str(what, ": '", text, "' is not a device (cpu, gpu or auto)"));
}

bool gpu_available() {
#if ALISA_HAVE_CUDA
  return gpu_device_count() > 0;
#else
  return false;
#endif
}

Backend make_backend(const BackendOptions& options) {
  Backend backend;
  const bool use_gpu = options.device == DeviceChoice::kGpu ||
                       (options.device == DeviceChoice::kAuto && gpu_available());
  if (use_gpu) {
#if ALISA_HAVE_CUDA
    ALISA_CHECK(gpu_device_count() > 0, "--device gpu: no CUDA device is present");
    auto device = std::make_unique<GpuDevice>(0, options.gpu_memory_limit);
    backend.ops = std::make_unique<GpuOps>(*device);
    backend.cpu_tier = std::make_unique<PinnedHostDevice>(*device, options.cpu_memory_limit);
    backend.cpu_pageable = std::make_unique<CpuDevice>(options.cpu_memory_limit, "cpu pageable");
    backend.cpu_ops = std::make_unique<CpuOps>(options.n_threads);
    backend.device = std::move(device);
    backend.activation_dtype = DType::kF16;
    return backend;
#else
    throw Error("--device gpu: this alisa was built without CUDA (nvcc was not found)");
#endif
  }
  backend.device = std::make_unique<CpuDevice>(
      options.gpu_memory_limit != 0 ? options.gpu_memory_limit : options.cpu_memory_limit);
  backend.cpu_tier = std::make_unique<CpuDevice>(options.cpu_memory_limit, "cpu tier");
  backend.ops = std::make_unique<CpuOps>(options.n_threads);
  backend.activation_dtype = DType::kF32;
  return backend;
}

}  // namespace alisa
