// Where a model runs: the compute device, its Ops and its activation dtype, chosen from
// --device (cpu | gpu | auto: the GPU when one is present).
#pragma once

#include <memory>
#include <string>

#include "runtime/core/device.h"
#include "runtime/ops/ops.h"

namespace alisa {

enum class DeviceChoice : uint8_t { kAuto, kCpu, kGpu };

// "cpu", "gpu", "auto"; throws alisa::Error naming `what` otherwise.
DeviceChoice parse_device_choice(const std::string& text, const std::string& what);

// What the GPU engine computes in: f16, bf16, or auto (the checkpoint's torch_dtype: bfloat16
// checkpoints run in bfloat16, the others in float16). The CPU engine computes in float32.
enum class GpuDtypeChoice : uint8_t { kAuto, kF16, kBF16 };

// "auto", "f16", "bf16"; throws alisa::Error naming `what` otherwise.
GpuDtypeChoice parse_gpu_dtype_choice(const std::string& text, const std::string& what);

// The GPU engine's dtype for a checkpoint stored in `stored_dtype`.
DType gpu_compute_dtype(GpuDtypeChoice choice, DType stored_dtype);

struct BackendOptions {
  DeviceChoice device = DeviceChoice::kAuto;
  int n_threads = 0;            // CPU threads; 0: all cores
  size_t cpu_memory_limit = 0;  // bytes; 0: no cap
  // bytes; 0: the GPU's free memory. On CPU runs it caps the compute arena that stands in for
  // GPU memory (so offloading policies run without a GPU); 0 there: cpu_memory_limit.
  size_t gpu_memory_limit = 0;
  GpuDtypeChoice gpu_dtype = GpuDtypeChoice::kAuto;
};

struct Backend {
  std::unique_ptr<Device> device;  // the compute device
  std::unique_ptr<Ops> ops;
  DType activation_dtype = DType::kF32;  // of activations, weights and the KV cache
  // The CPU tier of offloaded runs: pinned memory on GPU runs (capped by cpu_memory_limit), and
  // pageable memory for weights when pin_weights is off.
  std::unique_ptr<Device> cpu_tier;
  std::unique_ptr<Device> cpu_pageable;
  // The CPU's ops for cpu_attention on GPU runs; CPU runs use `ops`.
  std::unique_ptr<Ops> cpu_ops;
  Ops* host_ops() const { return cpu_ops ? cpu_ops.get() : ops.get(); }
};

// `stored_dtype`: the checkpoint's torch_dtype, which picks the GPU dtype under kAuto.
Backend make_backend(const BackendOptions& options, DType stored_dtype);

// Whether `options` run on the GPU (--device gpu, or auto with a GPU present).
bool uses_gpu(const BackendOptions& options);

// Whether this build has GPU kernels and a CUDA device is present.
bool gpu_available();

}  // namespace alisa
