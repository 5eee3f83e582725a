#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels_cpu/embedding_cpu.h"
#include "runtime/base/common.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

std::vector<int32_t> random_ids(int64_t n, int64_t limit, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(limit - 1));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& id : ids) id = dist(rng);
  return ids;
}

TEST_CASE("embedding_cpu matches the reference", "[kernels_cpu]") {
  struct Shape {
    int64_t n_tokens, vocab, dim;
  };
  // The last shape is large enough to run on several TBB workers.
  const Shape shapes[] = {{1, 1, 1}, {3, 17, 67}, {17, 67, 130}, {130, 3, 17}, {257, 50, 300}};
  for (const Shape& s : shapes) {
    for (bool positions : {false, true}) {
      CAPTURE(s.n_tokens, s.vocab, s.dim, positions);
      const int64_t n_positions = 67;
      const auto table = test::random_floats(s.vocab * s.dim, 1);
      const auto position_table = test::random_floats(n_positions * s.dim, 2);
      const auto token_ids = random_ids(s.n_tokens, s.vocab, 3);
      const auto position_ids = random_ids(s.n_tokens, n_positions, 4);
      auto out = test::nan_filled(s.n_tokens * s.dim);
      const EmbeddingParams p{
          .token_ids = token_ids.data(),
          .table = table.data(),
          .position_ids = positions ? position_ids.data() : nullptr,
          .position_table = positions ? position_table.data() : nullptr,
          .out = out.data(),
          .n_tokens = s.n_tokens,
          .vocab_size = s.vocab,
          .n_positions = n_positions,
          .dim = s.dim,
      };
      embedding_cpu(p);
      std::vector<double> expected(out.size());
      reference::embedding(p, expected.data());
      // A copy is exact; a sum of two float32 values is off by at most half an ulp.
      const auto c = test::compare(out.data(), expected.data(), out.size(), 1e-7, 0);
      INFO(c.describe());
      CHECK(c.ok());
    }
  }
}

TEST_CASE("embedding_cpu rejects ids outside the tables", "[kernels_cpu]") {
  const auto table = test::random_floats(4 * 3, 1);
  std::vector<int32_t> ids = {0, 4};
  auto out = test::nan_filled(2 * 3);
  EmbeddingParams p{.token_ids = ids.data(),
                    .table = table.data(),
                    .out = out.data(),
                    .n_tokens = 2,
                    .vocab_size = 4,
                    .dim = 3};
  CHECK_THROWS_AS(embedding_cpu(p), InternalError);
  ids[1] = -1;
  CHECK_THROWS_AS(embedding_cpu(p), InternalError);
  ids[1] = 3;
  CHECK_NOTHROW(embedding_cpu(p));
}

}  // namespace
}  // namespace alisa
