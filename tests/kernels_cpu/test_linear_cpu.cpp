#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels_cpu/linear_cpu.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

TEST_CASE("linear_cpu matches the reference", "[kernels_cpu]") {
  struct Shape {
    int64_t m, n, k;
  };
  const Shape shapes[] = {{1, 1, 1},    {3, 17, 67},   {17, 130, 3},
                          {67, 3, 130}, {130, 67, 17}, {5, 256, 1000}};
  LinearCpu linear;
  for (const Shape& s : shapes) {
    for (bool with_bias : {false, true}) {
      for (int64_t pad : {0, 5}) {  // x rows k + pad apart: a strided view of a wider tensor
        CAPTURE(s.m, s.n, s.k, with_bias, pad);
        const int64_t stride = s.k + pad;
        const auto x = test::random_floats(s.m * stride, 51);
        const auto weight = test::random_floats(s.n * s.k, 52);
        const auto bias = test::random_floats(s.n, 53);
        auto y = test::nan_filled(s.m * s.n);
        const LinearParams p{.x = x.data(),
                             .weight = weight.data(),
                             .bias = with_bias ? bias.data() : nullptr,
                             .y = y.data(),
                             .m = s.m,
                             .n = s.n,
                             .k = s.k,
                             .x_row_stride = pad != 0 ? stride : 0};
        linear.run(p);
        std::vector<double> expected(y.size());
        reference::linear(p, expected.data());
        // A float32 sum of k products of O(1) terms: rounding grows like sqrt(k) in practice.
        const double atol = 1e-6 * std::sqrt(static_cast<double>(s.k)) * 4;
        const auto c = test::compare(y.data(), expected.data(), y.size(), 1e-5, atol);
        INFO(c.describe());
        CHECK(c.ok());
      }
    }
  }
}

TEST_CASE("linear_cpu builds one primitive per shape", "[kernels_cpu]") {
  LinearCpu linear;
  const auto x = test::random_floats(4 * 8, 1);
  const auto weight = test::random_floats(6 * 8, 2);
  auto y = test::nan_filled(4 * 6);
  LinearParams p{.x = x.data(), .weight = weight.data(), .y = y.data(), .m = 4, .n = 6, .k = 8};
  linear.run(p);
  linear.run(p);
  CHECK(linear.n_cached_primitives() == 1);
  p.m = 3;
  linear.run(p);
  CHECK(linear.n_cached_primitives() == 2);
  p.bias = weight.data();
  linear.run(p);
  CHECK(linear.n_cached_primitives() == 3);
  std::vector<double> expected(y.size());
  reference::linear(p, expected.data());
  const auto c = test::compare(y.data(), expected.data(), 3 * 6, 1e-5, 1e-5);
  INFO(c.describe());
  CHECK(c.ok());
}

}  // namespace
}  // namespace alisa
