#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels_cpu/attention_cpu.h"
#include "runtime/base/dtype.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

struct Case {
  int64_t batch, n_q, n_kv, n_heads, n_kv_heads, head_dim, q_start;
  std::vector<int64_t> left_pad;  // per sequence; >= n_kv masks the whole sequence
  bool strided;                   // every stride padded, as views of larger buffers are
  bool token_major = false;       // cache [n_kv, batch, n_kv_heads, head_dim]: tokens outermost
  DType dtype = DType::kF32;      // of q and out
  DType kv_dtype = DType::kF32;
  float scale = 0;  // 0: 1 / sqrt(head_dim)
};

// Float16 bits of `x` (NaN stays NaN), and `x` rounded to those values: what the kernel and the
// reference see.
std::vector<uint16_t> round_to_half(std::vector<float>& x) {
  std::vector<uint16_t> bits(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    bits[i] = float_to_half_bits(x[i]);
    x[i] = half_bits_to_float(bits[i]);
  }
  return bits;
}

// Runs the kernel once per instruction set in `isas` (which pick the float16-KV path).
void check_case(const Case& cs,
                const std::vector<AttentionIsa>& isas = {attention_cpu_best_isa()}) {
  CAPTURE(cs.batch, cs.n_q, cs.n_kv, cs.n_heads, cs.n_kv_heads, cs.head_dim, cs.q_start, cs.strided,
          cs.token_major, dtype_name(cs.dtype), dtype_name(cs.kv_dtype), cs.scale);
  const int64_t extra = cs.strided ? 3 : 0;
  const int64_t q_token_stride = cs.n_heads * cs.head_dim + extra;
  const int64_t q_batch_stride = cs.n_q * q_token_stride + extra;
  const int64_t kv_row = cs.n_kv_heads * cs.head_dim;  // one token of one sequence
  int64_t kv_token_stride = kv_row + extra;
  int64_t kv_batch_stride = (cs.n_kv + extra) * kv_token_stride;  // a cache with spare room
  int64_t kv_size = cs.batch * kv_batch_stride;
  if (cs.token_major) {
    kv_batch_stride = kv_row + extra;
    kv_token_stride = cs.batch * kv_batch_stride;
    kv_size = cs.n_kv * kv_token_stride;
  }
  const int64_t mask_batch_stride = cs.n_kv + extra;
  const int64_t out_token_stride = cs.n_heads * cs.head_dim + 2 * extra;
  const int64_t out_batch_stride = cs.n_q * out_token_stride + extra;

  auto q = test::random_floats(cs.batch * q_batch_stride, 71);
  auto k = test::random_floats(kv_size, 72);
  auto v = test::random_floats(kv_size, 73);
  std::vector<uint8_t> mask(static_cast<size_t>(cs.batch * mask_batch_stride), 1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t b = 0; b < cs.batch; ++b) {
    for (int64_t j = 0; j < cs.n_kv; ++j) {
      const bool padding = j < cs.left_pad[b];
      mask[b * mask_batch_stride + j] = padding ? 0 : 1;
      // Padding and not-yet-written cache slots hold garbage the kernel must never read.
      if (padding || j >= cs.q_start + cs.n_q) {
        for (int64_t e = 0; e < kv_row; ++e) {
          k[b * kv_batch_stride + j * kv_token_stride + e] = nan;
          v[b * kv_batch_stride + j * kv_token_stride + e] = nan;
        }
      }
    }
  }
  // float16 operands: the kernel reads the bits, the reference the same values widened.
  const bool half_q = cs.dtype == DType::kF16;
  const bool half_kv = cs.kv_dtype == DType::kF16;
  const auto q16 = half_q ? round_to_half(q) : std::vector<uint16_t>();
  const auto k16 = half_kv ? round_to_half(k) : std::vector<uint16_t>();
  const auto v16 = half_kv ? round_to_half(v) : std::vector<uint16_t>();
  auto out = test::nan_filled(cs.batch * out_batch_stride);
  std::vector<uint16_t> out16(half_q ? out.size() : 0, float_to_half_bits(nan));
  AttentionParams p{
      .q = q.data(),
      .k = k.data(),
      .v = v.data(),
      .key_mask = mask.data(),
      .out = out.data(),
      .batch = cs.batch,
      .n_q = cs.n_q,
      .n_kv_tokens = cs.n_kv,
      .n_heads = cs.n_heads,
      .n_kv_heads = cs.n_kv_heads,
      .head_dim = cs.head_dim,
      .q_start = cs.q_start,
      .q_batch_stride = q_batch_stride,
      .q_token_stride = q_token_stride,
      .kv_batch_stride = kv_batch_stride,
      .kv_token_stride = kv_token_stride,
      .out_batch_stride = out_batch_stride,
      .out_token_stride = out_token_stride,
      .mask_batch_stride = mask_batch_stride,
      .scale = cs.scale != 0 ? cs.scale : 1.0f / std::sqrt(static_cast<float>(cs.head_dim))};
  const int64_t row = cs.n_heads * cs.head_dim;
  std::vector<double> expected(static_cast<size_t>(cs.batch * cs.n_q * row));
  reference::attention(p, expected.data());  // float32 views of every operand
  if (half_q) {
    p.q = q16.data();
    p.out = out16.data();
    p.dtype = DType::kF16;
  }
  if (half_kv) {
    p.k = k16.data();
    p.v = v16.data();
    p.kv_dtype = DType::kF16;
  }
  for (AttentionIsa isa : isas) {
    CAPTURE(static_cast<int>(isa));
    std::fill(out.begin(), out.end(), nan);
    std::fill(out16.begin(), out16.end(), float_to_half_bits(nan));
    attention_cpu(p, isa);
    if (half_q) {
      for (size_t e = 0; e < out.size(); ++e) out[e] = half_bits_to_float(out16[e]);
    }

    std::vector<float> actual(expected.size());  // the written elements, contiguous
    int64_t n_gap_written = 0;
    for (int64_t b = 0; b < cs.batch; ++b) {
      for (int64_t i = 0; i < cs.n_q; ++i) {
        const float* o = out.data() + b * out_batch_stride + i * out_token_stride;
        for (int64_t e = 0; e < row; ++e) actual[(b * cs.n_q + i) * row + e] = o[e];
        for (int64_t e = row; e < out_token_stride; ++e) n_gap_written += !std::isnan(o[e]);
      }
    }
    CHECK(n_gap_written == 0);
    // Outputs are convex combinations of values in [-1, 1]; float32 scores and sums stay ~1e-6,
    // ~1e-5 when a large scale makes scores ~10x larger. A float16 output adds its rounding, at
    // most 2^-11 relative.
    const double rtol = half_q ? 5e-4 : cs.scale > 1 ? 1e-4 : 1e-5;
    const double atol = cs.scale > 1 ? 1e-4 : 1e-5;
    const auto c = test::compare(actual.data(), expected.data(), actual.size(), rtol, atol);
    INFO(c.describe());
    CHECK(c.ok());
  }
}

// The instruction sets this CPU can run, each path of the float16-KV kernel.
std::vector<AttentionIsa> isas() {
  std::vector<AttentionIsa> out;
  for (AttentionIsa isa : {AttentionIsa::kBaseline, AttentionIsa::kAvx2, AttentionIsa::kAvx512}) {
    if (isa <= attention_cpu_best_isa()) out.push_back(isa);
  }
  return out;
}

TEST_CASE("attention_cpu matches the reference", "[kernels_cpu]") {
  for (int64_t group : {1, 2, 4}) {  // n_heads / n_kv_heads
    for (bool strided : {false, true}) {
      // Prefill: a full sequence, a left-padded one, a fully masked one.
      check_case({3, 17, 17, 4, 4 / group, 67, 0, {0, 5, 17}, strided});
      // Decode: one new token per sequence at the end of the cache.
      check_case({2, 1, 130, 8, 8 / group, 128, 129, {3, 0}, strided});
      // A chunk of queries after a cached prefix; spare cache slots after it.
      check_case({2, 3, 70, 4, 4 / group, 3, 64, {1, 66}, strided});
      // Fewer queries than a tile, odd sizes.
      check_case({1, 5, 9, 4, 4 / group, 17, 4, {2}, strided});
    }
  }
  // One token alone; a long prompt that runs on several TBB workers.
  check_case({1, 1, 1, 1, 1, 1, 0, {0}, false});
  check_case({2, 130, 130, 4, 1, 64, 0, {0, 61}, true});
}

TEST_CASE("attention_cpu takes float16 q and out, K and V", "[kernels_cpu]") {
  // Each combination of q/out and K/V types, each layout, each path of the float16-KV kernel.
  for (DType kv_dtype : {DType::kF32, DType::kF16}) {
    for (DType dtype : {DType::kF32, DType::kF16}) {
      if (dtype == DType::kF32 && kv_dtype == DType::kF32) continue;  // the test above
      // The float32-KV path has no instruction set to pick.
      const auto paths = kv_dtype == DType::kF16 ? isas() : std::vector{attention_cpu_best_isa()};
      for (int64_t group : {1, 2, 4, 5}) {  // 5: a tile of 4 and a ragged row per KV head
        for (int layout = 0; layout < 3; ++layout) {
          const bool strided = layout == 1;
          const bool token_major = layout == 2;
          auto run = [&](Case cs) {
            cs.token_major = token_major;
            cs.dtype = dtype;
            cs.kv_dtype = kv_dtype;
            check_case(cs, paths);
          };
          const int64_t h = 4 * group;  // query heads
          // Decode past a key block; a padded and a fully masked sequence.
          run({3, 1, 150, h, h / group, 128, 149, {0, 37, 150}, strided});
          // Prefill at head_dim 80 (AVX2: a 64-wide register block and a 16-wide one).
          run({2, 19, 19, h, h / group, 80, 0, {0, 6}, strided});
          // A chunk of queries after a cached prefix, head_dim 64.
          run({2, 3, 70, h, h / group, 64, 64, {1, 66}, strided});
          // Row tails: head_dim not a multiple of any vector width.
          run({1, 5, 9, h, h / group, 67, 4, {2}, strided});
          run({2, 2, 7, h, h / group, 3, 5, {0, 1}, strided});
        }
      }
    }
  }
}

TEST_CASE("attention_cpu decodes a long float16 cache", "[kernels_cpu]") {
  for (DType dtype : {DType::kF32, DType::kF16}) {
    // OPT-30B's heads over a token-major cache, on several TBB workers.
    check_case({2, 1, 500, 56, 56, 128, 499, {0, 250}, false, true, dtype, DType::kF16}, isas());
    // GQA 32/8: one tile of four heads per KV head.
    check_case({2, 1, 1000, 32, 8, 128, 999, {5, 0}, false, false, dtype, DType::kF16}, isas());
    // head_dim 256: one row fills AVX-512's accumulator registers, AVX2's four times over.
    check_case({2, 1, 300, 4, 1, 256, 299, {0, 3}, true, true, dtype, DType::kF16}, isas());
    // Scores ~10x larger: softmax weights spread over many orders of magnitude.
    check_case({2, 4, 200, 4, 2, 128, 196, {0, 9}, false, false, dtype, DType::kF16, 3.0f}, isas());
  }
}

TEST_CASE("attention_cpu gives zeros to a query with no visible key", "[kernels_cpu]") {
  const int64_t head_dim = 8;
  const auto q = test::random_floats(2 * head_dim, 1);
  const auto kv = test::random_floats(2 * head_dim, 2);
  const uint8_t mask[2] = {0, 1};  // query 0 sees only key 0, which is padding
  auto out = test::nan_filled(2 * head_dim);
  const AttentionParams p{.q = q.data(),
                          .k = kv.data(),
                          .v = kv.data(),
                          .key_mask = mask,
                          .out = out.data(),
                          .batch = 1,
                          .n_q = 2,
                          .n_kv_tokens = 2,
                          .n_heads = 1,
                          .n_kv_heads = 1,
                          .head_dim = head_dim,
                          .q_token_stride = head_dim,
                          .kv_token_stride = head_dim,
                          .out_token_stride = head_dim,
                          .scale = 0.5f};
  attention_cpu(p);
  for (int64_t d = 0; d < head_dim; ++d) {
    CHECK(out[d] == 0.0f);
    CHECK(out[head_dim + d] == Approx(kv[head_dim + d]));  // one visible key: its value
  }
}

}  // namespace
}  // namespace alisa
