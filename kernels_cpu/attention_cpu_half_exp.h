// Internal to the AVX2 and AVX-512 float16-KV attention tiles: Cephes' expf, written once against
// the tile's vector-ops struct. Each of those files defines ALISA_SIMD_OP, includes this file,
// then calls exp_reduced<Simd> from its Simd::exp (which clamps the argument and scales by 2^n in
// its own instruction set's way).
#pragma once

#ifndef ALISA_SIMD_OP
#error "define ALISA_SIMD_OP before including attention_cpu_half_exp.h"
#endif

namespace alisa::attention_detail {
namespace {

// x = n ln2 + r with |r| <= ln2 / 2: sets n (a whole number, as a float) and returns exp(r), by a
// polynomial (about 1 ulp). The caller clamps x to >= -87 first. Ops (the Simd struct) provides
// set1, mul, add, fma(a, b, c) = a * b + c, fnma(a, b, c) = c - a * b and round (to nearest).
template <typename Ops, typename V>
ALISA_SIMD_OP V exp_reduced(V x, V& n) {
  n = Ops::round(Ops::mul(x, Ops::set1(1.44269504088896341f)));
  V r = Ops::fnma(n, Ops::set1(0.693359375f), x);
  r = Ops::fnma(n, Ops::set1(-2.12194440e-4f), r);
  V y = Ops::set1(1.9875691500e-4f);
  y = Ops::fma(y, r, Ops::set1(1.3981999507e-3f));
  y = Ops::fma(y, r, Ops::set1(8.3334519073e-3f));
  y = Ops::fma(y, r, Ops::set1(4.1665795894e-2f));
  y = Ops::fma(y, r, Ops::set1(1.6666665459e-1f));
  y = Ops::fma(y, r, Ops::set1(5.0000001201e-1f));
  return Ops::fma(y, Ops::mul(r, r), Ops::add(r, Ops::set1(1.0f)));
}

}  // namespace
}  // namespace alisa::attention_detail
