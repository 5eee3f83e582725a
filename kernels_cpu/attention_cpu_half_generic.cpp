// The 16-bit-KV attention tile for any CPU (baseline x86-64 lacks F16C): 4-float vectors in GCC's
// vector extension, float16 and bfloat16 converted lane by lane.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels_cpu/attention_cpu_half.h"
#include "runtime/base/dtype.h"

#define ALISA_SIMD_TARGET
#define ALISA_SIMD_OP static inline

namespace alisa::attention_detail {
namespace {

struct Simd {
  using V = float __attribute__((vector_size(16)));
  static constexpr int kWidth = 4;
  static constexpr int kAccumulators = 8;

  ALISA_SIMD_OP V zero() { return V{0, 0, 0, 0}; }
  ALISA_SIMD_OP V set1(float x) { return V{x, x, x, x}; }
  ALISA_SIMD_OP V load(const float* p) {
    V x;
    std::memcpy(&x, p, sizeof(x));
    return x;
  }
  ALISA_SIMD_OP V load_part(const float* p, int n) {
    V x = zero();
    for (int i = 0; i < n; ++i) x[i] = p[i];
    return x;
  }
  ALISA_SIMD_OP void store(float* p, V x) { std::memcpy(p, &x, sizeof(x)); }
  ALISA_SIMD_OP void store_part(float* p, V x, int n) {
    for (int i = 0; i < n; ++i) p[i] = x[i];
  }
  ALISA_SIMD_OP V load_half_part(const uint16_t* p, int n) {
    V x = zero();
    for (int i = 0; i < n; ++i) x[i] = half_bits_to_float(p[i]);
    return x;
  }
  ALISA_SIMD_OP V load_half(const uint16_t* p) { return load_half_part(p, kWidth); }
  ALISA_SIMD_OP V load_bf16_part(const uint16_t* p, int n) {
    V x = zero();
    for (int i = 0; i < n; ++i) x[i] = bf16_bits_to_float(p[i]);
    return x;
  }
  ALISA_SIMD_OP V load_bf16(const uint16_t* p) { return load_bf16_part(p, kWidth); }
  ALISA_SIMD_OP V add(V a, V b) { return a + b; }
  ALISA_SIMD_OP V sub(V a, V b) { return a - b; }
  ALISA_SIMD_OP V fma(V a, V b, V c) { return a * b + c; }
  ALISA_SIMD_OP float sum(V x) { return (x[0] + x[1]) + (x[2] + x[3]); }
  ALISA_SIMD_OP V exp(V x) {
    for (int i = 0; i < kWidth; ++i) x[i] = std::exp(x[i]);
    return x;
  }
};

}  // namespace
}  // namespace alisa::attention_detail

#define ALISA_ATTEND_HALF_ENTRY attend_half_generic
#include "kernels_cpu/attention_cpu_half_kernel.h"
