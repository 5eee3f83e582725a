#include "kernels_cpu/convert_cpu.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

namespace alisa {
namespace {

float load(const void* x, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::kF32:
      return static_cast<const float*>(x)[i];
    case DType::kF16:
      return half_bits_to_float(static_cast<const uint16_t*>(x)[i]);
    case DType::kBF16:
      return bf16_bits_to_float(static_cast<const uint16_t*>(x)[i]);
    default:
      ALISA_ASSERT(false, "convert from ", dtype_name(dtype));
  }
  return 0;
}

void store(void* out, DType dtype, int64_t i, float value) {
  switch (dtype) {
    case DType::kF32:
      static_cast<float*>(out)[i] = value;
      return;
    case DType::kF16:
      static_cast<uint16_t*>(out)[i] = float_to_half_bits(value);
      return;
    case DType::kBF16:
      static_cast<uint16_t*>(out)[i] = float_to_bf16_bits(value);
      return;
    default:
      ALISA_ASSERT(false, "convert to ", dtype_name(dtype));
  }
}

}  // namespace

void convert_cpu(const ConvertParams& p) {
  ALISA_ASSERT(p.n >= 0 && (p.n == 0 || (p.x != nullptr && p.out != nullptr)), "convert n=", p.n);
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, p.n, 1 << 14),
                    [&](const tbb::blocked_range<int64_t>& r) {
                      for (int64_t i = r.begin(); i < r.end(); ++i) {
                        store(p.out, p.out_dtype, i, load(p.x, p.x_dtype, i));
                      }
                    });
}

}  // namespace alisa
