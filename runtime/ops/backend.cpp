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

GpuDtypeChoice parse_gpu_dtype_choice(const std::string& text, const std::string& what) {
  if (text == "auto") return GpuDtypeChoice::kAuto;
  if (text == "f16") return GpuDtypeChoice::kF16;
  if (text == "bf16") return GpuDtypeChoice::kBF16;
  throw Error(str(what, ": '", text, "' is not a GPU dtype (f16, bf16 or auto)"));
}

DType gpu_compute_dtype(GpuDtypeChoice choice, DType stored_dtype) {
  switch (choice) {
    case GpuDtypeChoice::kF16:
      return DType::kF16;
    case GpuDtypeChoice::kBF16:
      return DType::kBF16;
    case GpuDtypeChoice::kAuto:
      break;
  }
  // A model trained in bfloat16 may overflow float16's range; float32 checkpoints run in float16.
  return stored_dtype == DType::kBF16 ? DType::kBF16 : DType::kF16;
}

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
