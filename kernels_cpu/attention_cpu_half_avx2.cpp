// The float16-KV attention tile on AVX2 with FMA and F16C: 8 floats a vector, float16 rows widened
// by vcvtph2ps as they load.
#include "kernels_cpu/attention_cpu_half.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>

// Per function, not per file: the rest of the library stays baseline x86-64.
#define ALISA_SIMD_TARGET __attribute__((target("avx2,fma,f16c")))
#define ALISA_SIMD_OP static inline ALISA_SIMD_TARGET __attribute__((always_inline))

#include "kernels_cpu/attention_cpu_half_exp.h"

namespace alisa::attention_detail {
namespace {

struct Simd {
  using V = __m256;
  static constexpr int kWidth = 8;
  static constexpr int kAccumulators = 8;  // of 16 registers; weights and a V chunk use others

  ALISA_SIMD_OP __m256i lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  ALISA_SIMD_OP V zero() { return _mm256_setzero_ps(); }
  ALISA_SIMD_OP V set1(float x) { return _mm256_set1_ps(x); }
  ALISA_SIMD_OP V load(const float* p) { return _mm256_loadu_ps(p); }
  ALISA_SIMD_OP V load_part(const float* p, int n) { return _mm256_maskload_ps(p, lanes(n)); }
  ALISA_SIMD_OP void store(float* p, V x) { _mm256_storeu_ps(p, x); }
  ALISA_SIMD_OP void store_part(float* p, V x, int n) { _mm256_maskstore_ps(p, lanes(n), x); }
  ALISA_SIMD_OP V load_half(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  ALISA_SIMD_OP V load_half_part(const uint16_t* p, int n) {
    if (n == kWidth) return load_half(p);
    alignas(16) uint16_t row[kWidth] = {};  // AVX2 has no 16-bit masked load
    for (int i = 0; i < n; ++i) row[i] = p[i];
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(row)));
  }
  // bfloat16 is float32's top half: widen to 32 bits and shift into place.
  ALISA_SIMD_OP V widen_bf16(__m128i bits) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
  }
  ALISA_SIMD_OP V load_bf16(const uint16_t* p) {
    return widen_bf16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  ALISA_SIMD_OP V load_bf16_part(const uint16_t* p, int n) {
    if (n == kWidth) return load_bf16(p);
    alignas(16) uint16_t row[kWidth] = {};
    for (int i = 0; i < n; ++i) row[i] = p[i];
    return widen_bf16(_mm_load_si128(reinterpret_cast<const __m128i*>(row)));
  }
  ALISA_SIMD_OP V add(V a, V b) { return _mm256_add_ps(a, b); }
  ALISA_SIMD_OP V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  ALISA_SIMD_OP V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  ALISA_SIMD_OP float sum(V x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
  }

  ALISA_SIMD_OP V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  ALISA_SIMD_OP V fnma(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  ALISA_SIMD_OP V round(V x) {
    return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }

  // Cephes' expf (attention_cpu_half_exp.h); 2^n is built in the exponent field, which the clamp
  // at -87 keeps normal.
  ALISA_SIMD_OP V exp(V x) {
    const V drop = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
    x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x);  // the second operand when NaN: NaN stays
    V n;
    const V y = exp_reduced<Simd>(x, n);
    const __m256i scale =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(drop, _mm256_mul_ps(y, _mm256_castsi256_ps(scale)));
  }
};

}  // namespace
}  // namespace alisa::attention_detail

#define ALISA_ATTEND_HALF_ENTRY attend_half_avx2
#include "kernels_cpu/attention_cpu_half_kernel.h"

#endif
