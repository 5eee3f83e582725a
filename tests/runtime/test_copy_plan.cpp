#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/ops/ops.h"

namespace alisa {
namespace {

TEST_CASE("copy_plan: a decode step's new token goes into a token-major cache in one block",
          "[copy]") {
  // K of 4 sequences, 1 new token, 2 heads x 8: into a cache stored [capacity 5, 4, 2, 8] and
  // viewed [4, capacity, 2, 8] at token 3. The token dimension has size 1 and mismatched strides:
  // it must not split the copy into a block per sequence.
  std::vector<uint16_t> src(4 * 2 * 8), cache(5 * 4 * 2 * 8);
  const Tensor from(src.data(), nullptr, DType::kF16, {4, 1, 2, 8});
  const Tensor to =
      Tensor(cache.data(), nullptr, DType::kF16, {5, 4, 2, 8}).transpose(0, 1).slice(1, 3, 4);
  const CopyPlan plan = copy_plan(from, to);
  // The 4 sequences' rows of that token are contiguous on both sides: one row of them all.
  CHECK(plan.n_outer[0] * plan.n_outer[1] == 1);
  CHECK(plan.n_rows == 1);
  CHECK(plan.row_bytes == 4 * 2 * 8 * 2);
  CHECK(plan.dst == reinterpret_cast<char*>(cache.data() + 3 * 4 * 2 * 8));
  // A prompt step of 3 tokens: a block per sequence, 3 rows of a whole token each.
  std::vector<uint16_t> bigger(4 * 3 * 2 * 8);
  const Tensor prompt_src(bigger.data(), nullptr, DType::kF16, {4, 3, 2, 8});
  const Tensor into =
      Tensor(cache.data(), nullptr, DType::kF16, {5, 4, 2, 8}).transpose(0, 1).slice(1, 0, 3);
  const CopyPlan prefill = copy_plan(prompt_src, into);
  CHECK(prefill.n_outer[1] == 4);
  CHECK(prefill.n_rows == 3);
  CHECK(prefill.dst_pitch == 4 * 2 * 8 * 2);
}

}  // namespace
}  // namespace alisa
