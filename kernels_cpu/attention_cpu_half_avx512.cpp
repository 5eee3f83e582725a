// The 16-bit-KV attention tile on AVX-512 (F, BW, VL): 16 floats a vector, float16 rows widened
// by vcvtph2ps and bfloat16 rows by a zero-extend and shift as they load, row tails by masked
// loads.
#include "kernels_cpu/attention_cpu_half.h"

#if defined(__x86_64__) && defined(__GNUC__)

// GCC 12 warns inside its own AVX-512 intrinsics (`__m512 __Y = __Y`, GCC bug 105593);
// silenced for the header's lines only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstdint>
#include <limits>

// Per function, not per file: the rest of the library stays baseline x86-64.
#define ALISA_SIMD_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define ALISA_SIMD_OP static inline ALISA_SIMD_TARGET __attribute__((always_inline))

#include "kernels_cpu/attention_cpu_half_exp.h"

namespace alisa::attention_detail {
namespace {

struct Simd {
  using V = __m512;
  static constexpr int kWidth = 16;
  static constexpr int kAccumulators = 16;  // of 32 registers; weights and a V chunk use others

  ALISA_SIMD_OP __mmask16 lanes(int n) { return static_cast<__mmask16>((1u << n) - 1); }
  ALISA_SIMD_OP V zero() { return _mm512_setzero_ps(); }
  ALISA_SIMD_OP V set1(float x) { return _mm512_set1_ps(x); }
  ALISA_SIMD_OP V load(const float* p) { return _mm512_loadu_ps(p); }
  ALISA_SIMD_OP V load_part(const float* p, int n) { return _mm512_maskz_loadu_ps(lanes(n), p); }
  ALISA_SIMD_OP void store(float* p, V x) { _mm512_storeu_ps(p, x); }
  ALISA_SIMD_OP void store_part(float* p, V x, int n) { _mm512_mask_storeu_ps(p, lanes(n), x); }
  ALISA_SIMD_OP V load_half(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  ALISA_SIMD_OP V load_half_part(const uint16_t* p, int n) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes(n), p));
  }
  // bfloat16 is float32's top half: widen to 32 bits and shift into place.
  ALISA_SIMD_OP V widen_bf16(__m256i bits) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
  }
  ALISA_SIMD_OP V load_bf16(const uint16_t* p) {
    return widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  ALISA_SIMD_OP V load_bf16_part(const uint16_t* p, int n) {
    return widen_bf16(_mm256_maskz_loadu_epi16(lanes(n), p));
  }
  ALISA_SIMD_OP V add(V a, V b) { return _mm512_add_ps(a, b); }
  ALISA_SIMD_OP V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  ALISA_SIMD_OP V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  ALISA_SIMD_OP float sum(V x) { return _mm512_reduce_add_ps(x); }

  ALISA_SIMD_OP V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  ALISA_SIMD_OP V fnma(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  ALISA_SIMD_OP V round(V x) {
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }

  // Cephes' expf (attention_cpu_half_exp.h). Arguments are scores less their maximum (<= 0):
  // below -87 (and at -inf, a hidden key) the result is 0; NaN stays NaN.
  ALISA_SIMD_OP V exp(V x) {
    const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_NLT_UQ);
    x = _mm512_max_ps(_mm512_set1_ps(-87.0f), x);  // the second operand when NaN: NaN stays
    V n;
    const V y = exp_reduced<Simd>(x, n);
    return _mm512_maskz_mov_ps(keep, _mm512_scalef_ps(y, n));
  }
};

}  // namespace
}  // namespace alisa::attention_detail

#define ALISA_ATTEND_HALF_ENTRY attend_half_avx512
#include "kernels_cpu/attention_cpu_half_kernel.h"

#endif
