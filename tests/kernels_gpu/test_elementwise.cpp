// GPU rotary embedding, activations and add against the double-accumulating references, in f16,
// bf16 and f32; conversions between those against the host's rounding.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels_gpu/activation.cuh"
#include "kernels_gpu/add.cuh"
#include "kernels_gpu/convert.cuh"
#include "kernels_gpu/rotary.cuh"
#include "tests/kernels_gpu/gpu_test_util.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

using test::DeviceBuffer;

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::kRelu:
      return "relu";
    case Activation::kGelu:
      return "gelu";
    case Activation::kGeluTanh:
      return "gelu_tanh";
    case Activation::kSilu:
      return "silu";
  }
  return "?";
}

// Values for the conversions: random significands over exponents from f32 subnormals to beyond
// f16's range, both signs, and the edges: zeros, infinities, NaN, f16's largest value and its
// overflow threshold, f16 subnormals (a tie to zero among them), ties of f16 and of bf16 (to even,
// down and up), f32's largest value and a bf16 subnormal.
std::vector<float> conversion_values(size_t n_random, uint64_t seed) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {0.0f,
                          -0.0f,
                          inf,
                          -inf,
                          std::numeric_limits<float>::quiet_NaN(),
                          65504.0f,
                          65519.0f,
                          65520.0f,
                          -70000.0f,
                          std::ldexp(1.0f, -24),
                          std::ldexp(1.0f, -25),
                          std::ldexp(3.0f, -26),
                          1.0f + std::ldexp(1.0f, -11),
                          1.0f + std::ldexp(3.0f, -11),
                          1.0f + std::ldexp(1.0f, -8),
                          -(1.0f + std::ldexp(3.0f, -8)),
                          std::numeric_limits<float>::max(),
                          1e-39f};
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < n_random; ++i) {
    const float significand = 1.0f + static_cast<float>(rng() % (1u << 23)) * 0x1p-23f;
    const int exponent = static_cast<int>(rng() % 160) - 140;  // 2^-140 .. 2^19
    v.push_back(std::ldexp(rng() % 2 == 0 ? significand : -significand, exponent));
  }
  return v;
}

}  // namespace

TEST_CASE("gpu convert rounds between the float types as the host does", "[gpu][convert]") {
  uint64_t seed = 550;
  for (DType from : test::kFloatDtypes) {
    for (DType to : test::kFloatDtypes) {
      std::vector<float> x = conversion_values(4099, seed++);
      test::round_to(from, x);  // what the source holds
      const size_t n = x.size();
      DeviceBuffer x_d = test::upload(from, x), out_d = test::poisoned(to, n + 1);
      ConvertParams p;
      p.x = x_d.get();
      p.out = out_d.get();
      p.n = static_cast<int64_t>(n);
      p.x_dtype = from;
      p.out_dtype = to;
      gpu::convert(p, nullptr);
      const size_t element = dtype_size(to);
      const std::vector<uint8_t> got = test::download_raw<uint8_t>(out_d.get(), (n + 1) * element);
      // Round to nearest even on both sides: the same bits, but for NaN (any NaN will do).
      const std::vector<uint8_t> want = test::encode(to, x);
      size_t n_diff = 0, first_diff = 0;
      for (size_t i = 0; i < n; ++i) {
        const bool both_nan = std::isnan(test::decode(to, got.data(), i)) &&
                              std::isnan(test::decode(to, want.data(), i));
        if (!both_nan &&
            std::memcmp(got.data() + i * element, want.data() + i * element, element) != 0) {
          if (n_diff++ == 0) first_diff = i;
        }
      }
      INFO("convert " << dtype_name(from) << " -> " << dtype_name(to) << ": " << n_diff << " of "
                      << n << " differ (first: " << x[first_diff] << " gave "
                      << test::decode(to, got.data(), first_diff) << ", host "
                      << test::decode(to, want.data(), first_diff) << ")");
      CHECK(n_diff == 0);
      CHECK(std::isnan(test::decode(to, got.data(), n)));  // nothing written past n
    }
  }
}

TEST_CASE("gpu rotary matches the reference", "[gpu][rotary]") {
  struct Case {
    int64_t n_tokens, n_heads, head_dim, rotary_dim;
    int64_t extra_stride;  // token_stride = n_heads * head_dim + extra (0: token_stride left 0)
  };
  const Case cases[] = {{1, 1, 2, 2, 0},    {3, 3, 64, 64, 0},    {17, 8, 128, 128, 0},
                        {67, 4, 80, 40, 0}, {130, 2, 64, 32, 96}, {257, 3, 128, 64, 256},
                        {5, 6, 17, 16, 3}};
  uint64_t seed = 300;
  for (DType dtype : test::kFloatDtypes) {
    for (const Case& c : cases) {
      const int64_t row = c.n_heads * c.head_dim;
      const int64_t stride = row + c.extra_stride;
      const size_t n = static_cast<size_t>(c.n_tokens * stride);
      const std::vector<float> x = test::random_rounded(dtype, n, seed++, -2.0f, 2.0f);
      std::mt19937_64 rng(seed++);
      std::vector<int32_t> positions(c.n_tokens);
      for (int32_t& pos : positions) pos = static_cast<int32_t>(rng() % 5000);  // long contexts
      std::vector<float> inv_freq(c.rotary_dim / 2);
      for (size_t i = 0; i < inv_freq.size(); ++i) {
        inv_freq[i] = 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / c.rotary_dim);
      }
      DeviceBuffer x_d = test::upload(dtype, x), pos_d = test::upload_raw(positions);
      DeviceBuffer freq_d = test::upload_raw(inv_freq);

      RotaryParams p;
      p.x = x_d.get();
      p.position_ids = pos_d.as<int32_t>();
      p.inv_freq = freq_d.as<float>();
      p.n_tokens = c.n_tokens;
      p.n_heads = c.n_heads;
      p.head_dim = c.head_dim;
      p.rotary_dim = c.rotary_dim;
      p.token_stride = c.extra_stride == 0 ? 0 : stride;
      p.dtype = dtype;
      gpu::rotary(p, nullptr);
      const std::vector<float> all = test::download(dtype, x_d.get(), n);

      RotaryParams r = p;
      r.x = const_cast<float*>(x.data());  // the reference only reads it
      r.position_ids = positions.data();
      r.inv_freq = inv_freq.data();
      r.dtype = DType::kF32;
      std::vector<double> expected(static_cast<size_t>(c.n_tokens * row));
      reference::rotary(r, expected.data());
      std::vector<float> out(expected.size());
      bool gaps_untouched = true;
      for (int64_t t = 0; t < c.n_tokens; ++t) {
        for (int64_t e = 0; e < stride; ++e) {
          const float v = all[t * stride + e];
          if (e < row) {
            out[t * row + e] = v;
          } else if (!(v == x[t * stride + e])) {
            gaps_untouched = false;
          }
        }
      }
      const std::string what =
          str("rotary ", dtype_name(dtype), " tokens=", c.n_tokens, " heads=", c.n_heads,
              " head_dim=", c.head_dim, " rotary_dim=", c.rotary_dim, " stride=", stride);
      INFO(what);
      CHECK(gaps_untouched);
      // 16-bit: one rounding of outputs below ~3; f32: sincosf within a few ulp.
      test::check_close(out, expected, test::tolerance_for(dtype, 1e-5, 2e-3),
                        test::tolerance_for(dtype, 2e-6, 2e-3), what);
    }
  }
}

TEST_CASE("gpu activation matches the reference", "[gpu][activation]") {
  const int64_t sizes[] = {1, 3, 17, 67, 130, 257, 4099};
  uint64_t seed = 400;
  for (DType dtype : test::kFloatDtypes) {
    for (Activation act :
         {Activation::kRelu, Activation::kGelu, Activation::kGeluTanh, Activation::kSilu}) {
      for (int64_t n : sizes) {
        for (int variant = 0; variant < 3; ++variant) {  // plain, gated, gated in place
          const bool gated = variant > 0, in_place = variant == 2;
          std::vector<float> x = test::random_rounded(dtype, n, seed++, -6.0f, 6.0f);
          std::vector<float> up = test::random_rounded(dtype, n, seed++, -1.0f, 1.0f);
          x[0] = 1.5f;  // so that no output is all but zero (the all-zero check would trip)
          up[0] = 0.75f;
          DeviceBuffer x_d = test::upload(dtype, x), up_d = test::upload(dtype, up);
          DeviceBuffer out_d = test::poisoned(dtype, n);
          ActivationParams p;
          p.x = x_d.get();
          p.up = gated ? up_d.get() : nullptr;
          p.out = in_place ? x_d.get() : out_d.get();
          p.n = n;
          p.activation = act;
          p.dtype = dtype;
          gpu::activation(p, nullptr);
          const std::vector<float> out = test::download(dtype, p.out, n);

          ActivationParams r = p;
          r.x = x.data();
          r.up = gated ? up.data() : nullptr;
          r.out = nullptr;
          r.dtype = DType::kF32;
          std::vector<double> expected(n);
          reference::activation(r, expected.data());
          // 16-bit: one output rounding; f32: erff / tanhf / expf within a few ulp, and the
          // cancellation in 1 + erf(x) for x near -6 costs ~1e-7 absolute.
          test::check_close(out, expected, test::tolerance_for(dtype, 1e-5, 2e-3),
                            test::tolerance_for(dtype, 1e-6, 1e-5),
                            str("activation ", activation_name(act), " ", dtype_name(dtype),
                                " n=", n, " gated=", gated, " in_place=", in_place));
        }
      }
    }
  }
}

TEST_CASE("gpu add matches the reference", "[gpu][add]") {
  const int64_t sizes[] = {1, 3, 17, 67, 130, 257, 100003};
  uint64_t seed = 500;
  for (DType dtype : test::kFloatDtypes) {
    for (int64_t n : sizes) {
      for (int variant = 0; variant < 3; ++variant) {  // separate, out = a, misaligned b
        const std::vector<float> a = test::random_rounded(dtype, n, seed++, -4.0f, 4.0f);
        const std::vector<float> b = test::random_rounded(dtype, n, seed++, -4.0f, 4.0f);
        DeviceBuffer a_d = test::upload(dtype, a), out_d = test::poisoned(dtype, n);
        DeviceBuffer b_d = test::poisoned(dtype, n + 1);
        void* b_p = test::advance(b_d.get(), dtype, variant == 2 ? 1 : 0);
        test::copy_to_device(dtype, b_p, b);
        AddParams p;
        p.a = a_d.get();
        p.b = b_p;
        p.out = variant == 1 ? a_d.get() : out_d.get();
        p.n = n;
        p.dtype = dtype;
        gpu::add(p, nullptr);
        const std::vector<float> out = test::download(dtype, p.out, n);

        AddParams r = p;
        r.a = a.data();
        r.b = b.data();
        r.out = nullptr;
        r.dtype = DType::kF32;
        std::vector<double> expected(n);
        reference::add(r, expected.data());
        // The float sum of two dtype values is exact; it is rounded once (half an ulp).
        test::check_close(out, expected, test::tolerance_for(dtype, 1e-7, 1e-3), 1e-7,
                          str("add ", dtype_name(dtype), " n=", n, " variant=", variant));
      }
    }
  }
}

}  // namespace alisa
