// Sparse Window Attention's budget and selection (../shared/design/SWA.md): hand-computed
// budgets, the tie rule, bad options, and the selection against a brute-force sort.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "kernels_cpu/swa_select_cpu.h"
#include "runtime/base/common.h"

namespace alisa {
namespace {

using Catch::Matchers::Contains;

std::vector<int32_t> select(const std::vector<float>& score, const SwaBudget& budget) {
  std::vector<int32_t> selected(static_cast<size_t>(budget.total));
  swa_select_cpu(score, budget, selected);
  return selected;
}

TEST_CASE("swa_budget follows SWA.md by hand", "[swa]") {
  // n = 100, sparsity 0.8: B = round(20) = 20, 10 local, 10 global.
  SwaBudget b = swa_budget(100, 0.8, 16);
  CHECK(b.total == 20);
  CHECK(b.local == 10);
  CHECK(b.global == 10);
  CHECK_FALSE(b.dense);
  // round(101 * 0.5) = round(50.5) = 51 (half away from zero): ceil(51 / 2) = 26 local.
  b = swa_budget(101, 0.5, 16);
  CHECK(b.total == 51);
  CHECK(b.local == 26);
  CHECK(b.global == 25);
  // min_tokens lifts a small budget: n = 40, sparsity 0.9 gives round(4) = 4 < 16.
  b = swa_budget(40, 0.9, 16);
  CHECK(b.total == 16);
  CHECK(b.local == 8);
  CHECK(b.global == 8);
  // n <= B: dense, every token.
  b = swa_budget(12, 0.9, 16);
  CHECK(b.dense);
  CHECK(b.total == 12);
  // sparsity 0 is always dense.
  b = swa_budget(1000, 0.0, 16);
  CHECK(b.dense);
  CHECK(b.total == 1000);
  CHECK(swa_score_window(swa_budget(100, 0.8, 16), 32) == 10);
  CHECK(swa_score_window(swa_budget(1000, 0.8, 16), 32) == 32);
}

TEST_CASE("swa_budget refuses bad options, naming them", "[swa]") {
  CHECK_THROWS_WITH(swa_budget(10, 1.0, 16), Contains("sparsity must be in [0, 1)"));
  CHECK_THROWS_WITH(swa_budget(10, -0.1, 16), Contains("sparsity"));
  CHECK_THROWS_WITH(swa_budget(10, 0.5, 0), Contains("min_tokens must be at least 1"));
  CHECK_THROWS_WITH(swa_score_window(swa_budget(10, 0.5, 1), 0),
                    Contains("window_max must be at least 1"));
}

TEST_CASE("swa_select_cpu: local window, best older scores, ties to the lower index", "[swa]") {
  // n = 10, B = 6: local [7, 10), global 3 of [0, 7).
  const SwaBudget b{.total = 6, .local = 3, .global = 3, .dense = false};
  // Scores of the local window are ignored (9.0 at index 8 must not matter).
  const std::vector<float> score = {0.5f, 0.9f, 0.1f, 0.9f, 0.2f, 0.9f, 0.3f, 0.0f, 9.0f, 0.0f};
  // Three tie at 0.9: indices 1, 3, 5 (all of them fit).
  CHECK(select(score, b) == std::vector<int32_t>{1, 3, 5, 7, 8, 9});
  // Two slots for three tied tokens: the lower indices win.
  const SwaBudget b2{.total = 5, .local = 3, .global = 2, .dense = false};
  CHECK(select(score, b2) == std::vector<int32_t>{1, 3, 7, 8, 9});
  // Dense: everything, in order.
  const SwaBudget dense = swa_budget(10, 0.0, 16);
  std::vector<int32_t> all(10);
  std::iota(all.begin(), all.end(), 0);
  CHECK(select(score, dense) == all);
}

TEST_CASE("swa_select_cpu matches a brute-force sort on random scores", "[swa]") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(0, 20);  // few levels: many ties
  for (int64_t n : {1, 2, 17, 64, 100, 513}) {
    for (double sparsity : {0.0, 0.5, 0.8, 0.9}) {
      INFO("n " << n << " sparsity " << sparsity);
      std::vector<float> score(static_cast<size_t>(n));
      for (float& s : score) s = static_cast<float>(level(rng)) / 20.0f;
      const SwaBudget b = swa_budget(n, sparsity, 4);
      std::vector<int32_t> order(static_cast<size_t>(n - b.local));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int32_t x, int32_t y) {
        return score[static_cast<size_t>(x)] > score[static_cast<size_t>(y)];
      });
      std::vector<int32_t> expected(order.begin(), order.begin() + b.global);
      for (int64_t i = n - b.local; i < n; ++i) expected.push_back(static_cast<int32_t>(i));
      std::sort(expected.begin(), expected.end());
      CHECK(select(score, b) == expected);
      CHECK(static_cast<int64_t>(expected.size()) == b.total);
    }
  }
}

}  // namespace
}  // namespace alisa
