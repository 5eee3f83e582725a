#include "runtime/copy_engine.h"

namespace alisa {

void copy_host_to_device(const Tensor& dst, const void* src) {
  ALISA_ASSERT(dst.is_contiguous() && dst.device() != nullptr, "copy to ", dst.shape_string());
  dst.device()->copy_from_host(dst.data(), src, dst.n_bytes());
}

void copy_device_to_host(void* dst, const Tensor& src) {
  ALISA_ASSERT(src.is_contiguous() && src.device() != nullptr, "copy from ", src.shape_string());
  src.device()->copy_to_host(dst, src.data(), src.n_bytes());
}

}  // namespace alisa
