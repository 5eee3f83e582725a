#include "runtime/copy_engine.h"

#include <cstring>

namespace alisa {

void copy_host_to_device(const Tensor& dst, const void* src) {
  ALISA_ASSERT(dst.is_contiguous() && dst.device() != nullptr, "copy to ", dst.shape_string());
  ALISA_ASSERT(dst.device()->kind() == DeviceKind::kCpu, "no copy path to ", dst.device()->name());
  std::memcpy(dst.data(), src, dst.n_bytes());
}

void copy_device_to_host(void* dst, const Tensor& src) {
  ALISA_ASSERT(src.is_contiguous() && src.device() != nullptr, "copy from ", src.shape_string());
  ALISA_ASSERT(src.device()->kind() == DeviceKind::kCpu, "no copy path from ",
               src.device()->name());
  std::memcpy(dst, src.data(), src.n_bytes());
}

}  // namespace alisa
