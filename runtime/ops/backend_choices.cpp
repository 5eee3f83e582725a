// The words of --device and --dtype and what they choose: no kernels, so the run YAML's reader
// (and its fuzz target) links without the backends.
#include "runtime/ops/backend.h"

#include "runtime/base/common.h"

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

}  // namespace alisa
