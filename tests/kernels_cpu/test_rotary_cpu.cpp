#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels_cpu/rotary_cpu.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

// HF's default RoPE frequencies, in float32 as HF computes them.
std::vector<float> inv_freq_for(int64_t rotary_dim, float base) {
  std::vector<float> inv_freq(static_cast<size_t>(rotary_dim / 2));
  for (int64_t i = 0; i < rotary_dim / 2; ++i) {
    inv_freq[i] = 1.0f / std::pow(base, static_cast<float>(2 * i) / static_cast<float>(rotary_dim));
  }
  return inv_freq;
}

TEST_CASE("rotary_cpu matches the reference", "[kernels_cpu]") {
  struct Shape {
    int64_t n_tokens, n_heads, head_dim, rotary_dim;
  };
  // Partial rotary (rotary_dim < head_dim) as GPT-NeoX and Phi use; 130 x 8 x 128 runs on
  // several TBB workers.
  const Shape shapes[] = {
      {1, 1, 2, 2}, {3, 3, 8, 8}, {17, 4, 64, 32}, {67, 2, 130, 66}, {130, 8, 128, 128}};
  for (const Shape& s : shapes) {
    for (int64_t pad : {0, 7}) {  // tokens n_heads * head_dim + pad apart (a fused QKV row)
      CAPTURE(s.n_tokens, s.n_heads, s.head_dim, s.rotary_dim, pad);
      const int64_t stride = s.n_heads * s.head_dim + pad;
      auto x = test::random_floats(s.n_tokens * stride, 61);
      const auto inv_freq = inv_freq_for(s.rotary_dim, 10000.0f);
      std::vector<int32_t> positions(static_cast<size_t>(s.n_tokens));
      for (int64_t t = 0; t < s.n_tokens; ++t) {
        positions[t] = static_cast<int32_t>((t * 977 + 5) % 8192);  // up to long contexts
      }
      const std::vector<float> before = x;
      const RotaryParams p{.x = x.data(),
                           .position_ids = positions.data(),
                           .inv_freq = inv_freq.data(),
                           .n_tokens = s.n_tokens,
                           .n_heads = s.n_heads,
                           .head_dim = s.head_dim,
                           .rotary_dim = s.rotary_dim,
                           .token_stride = pad != 0 ? stride : 0};
      std::vector<double> expected(s.n_tokens * s.n_heads * s.head_dim);
      reference::rotary(p, expected.data());
      rotary_cpu(p);
      std::vector<float> actual(expected.size());  // the rotated heads, without the padding
      for (int64_t t = 0; t < s.n_tokens; ++t) {
        for (int64_t e = 0; e < s.n_heads * s.head_dim; ++e) {
          actual[t * s.n_heads * s.head_dim + e] = x[t * stride + e];
        }
        for (int64_t e = s.n_heads * s.head_dim; e < stride; ++e) {
          REQUIRE(x[t * stride + e] == before[t * stride + e]);  // padding untouched
        }
      }
      // Same float32 angle on both sides; float32 cos/sin and products stay within 1e-6.
      const auto c = test::compare(actual.data(), expected.data(), actual.size(), 1e-5, 1e-5);
      INFO(c.describe());
      CHECK(c.ok());
    }
  }
}

}  // namespace
}  // namespace alisa
