#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels_cpu/attention_cpu.h"
#include "kernels_cpu/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

struct Case {
  int64_t batch, n_q, n_kv, n_heads, n_kv_heads, head_dim, q_start;
  std::vector<int64_t> left_pad;  // per sequence; >= n_kv masks the whole sequence
  bool strided;                   // every stride padded, as views of larger buffers are
};

void check_case(const Case& cs) {
  CAPTURE(cs.batch, cs.n_q, cs.n_kv, cs.n_heads, cs.n_kv_heads, cs.head_dim, cs.q_start,
          cs.strided);
  const int64_t extra = cs.strided ? 3 : 0;
  const int64_t q_token_stride = cs.n_heads * cs.head_dim + extra;
  const int64_t q_batch_stride = cs.n_q * q_token_stride + extra;
  const int64_t kv_token_stride = cs.n_kv_heads * cs.head_dim + extra;
  const int64_t kv_batch_stride = (cs.n_kv + extra) * kv_token_stride;  // a cache with spare room
  const int64_t mask_batch_stride = cs.n_kv + extra;
  const int64_t out_token_stride = cs.n_heads * cs.head_dim + 2 * extra;
  const int64_t out_batch_stride = cs.n_q * out_token_stride + extra;

  const auto q = test::random_floats(cs.batch * q_batch_stride, 71);
  auto k = test::random_floats(cs.batch * kv_batch_stride, 72);
  auto v = test::random_floats(cs.batch * kv_batch_stride, 73);
  std::vector<uint8_t> mask(static_cast<size_t>(cs.batch * mask_batch_stride), 1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t b = 0; b < cs.batch; ++b) {
    for (int64_t j = 0; j < cs.n_kv; ++j) {
      const bool padding = j < cs.left_pad[b];
      mask[b * mask_batch_stride + j] = padding ? 0 : 1;
      // Padding and not-yet-written cache slots hold garbage the kernel must never read.
      if (padding || j >= cs.q_start + cs.n_q) {
        for (int64_t e = 0; e < cs.n_kv_heads * cs.head_dim; ++e) {
          k[b * kv_batch_stride + j * kv_token_stride + e] = nan;
          v[b * kv_batch_stride + j * kv_token_stride + e] = nan;
        }
      }
    }
  }
  auto out = test::nan_filled(cs.batch * out_batch_stride);
  const AttentionParams p{.q = q.data(),
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
                          .scale = 1.0f / std::sqrt(static_cast<float>(cs.head_dim))};
  attention_cpu(p);
  const int64_t row = cs.n_heads * cs.head_dim;
  std::vector<double> expected(static_cast<size_t>(cs.batch * cs.n_q * row));
  reference::attention(p, expected.data());

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
  // Outputs are convex combinations of values in [-1, 1]; float32 scores and sums stay ~1e-6.
  const auto c = test::compare(actual.data(), expected.data(), actual.size(), 1e-5, 1e-5);
  INFO(c.describe());
  CHECK(c.ok());
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
