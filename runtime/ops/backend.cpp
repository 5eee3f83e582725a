#include "runtime/ops/backend.h"

#include "runtime/ops/cpu_ops.h"
#if ALISA_HAVE_CUDA
#include "runtime/core/gpu_device.h"
#include "runtime/ops/gpu_ops.h"
#endif

namespace alisa {

bool gpu_available() {
#if ALISA_HAVE_CUDA
  return gpu_device_count() > 0;
#else
  return false;
#endif
}

bool uses_gpu(const BackendOptions& options) {
  return options.device == DeviceChoice::kGpu ||
         (options.device == DeviceChoice::kAuto && gpu_available());
}

Backend make_backend(const BackendOptions& options, DType stored_dtype) {
  Backend backend;
  if (uses_gpu(options)) {
#if ALISA_HAVE_CUDA
    ALISA_CHECK(gpu_device_count() > 0, "--device gpu: no CUDA device is present");
    auto device = std::make_unique<GpuDevice>(0, options.gpu_memory_limit);
    backend.ops = std::make_unique<GpuOps>(*device);
    backend.cpu_tier = std::make_unique<PinnedHostDevice>(*device, options.cpu_memory_limit);
    backend.cpu_pageable = std::make_unique<CpuDevice>(options.cpu_memory_limit, "cpu pageable");
    backend.cpu_ops = std::make_unique<CpuOps>(options.n_threads);
    device->set_limit_source("--gpu-memory-limit");
    backend.cpu_tier->set_limit_source("--cpu-memory-limit");
    backend.cpu_pageable->set_limit_source("--cpu-memory-limit");
    backend.device = std::move(device);
    backend.activation_dtype = gpu_compute_dtype(options.gpu_dtype, stored_dtype);
    return backend;
#else
    throw Error("--device gpu: this alisa was built without CUDA (nvcc was not found)");
#endif
  }
  backend.device = std::make_unique<CpuDevice>(
      options.gpu_memory_limit != 0 ? options.gpu_memory_limit : options.cpu_memory_limit);
  // The arena standing in for the GPU is capped by the GPU's setting when it is given.
  backend.device->set_limit_source(options.gpu_memory_limit != 0
                                       ? "--gpu-memory-limit, the compute arena of this CPU run"
                                       : "--cpu-memory-limit");
  backend.cpu_tier = std::make_unique<CpuDevice>(options.cpu_memory_limit, "cpu tier");
  backend.cpu_tier->set_limit_source("--cpu-memory-limit");
  backend.ops = std::make_unique<CpuOps>(options.n_threads);
  backend.activation_dtype = DType::kF32;
  return backend;
}

}  // namespace alisa
