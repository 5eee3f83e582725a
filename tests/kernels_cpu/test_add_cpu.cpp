#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "kernels_cpu/add_cpu.h"
#include "runtime/base/common.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

TEST_CASE("add_cpu matches the reference", "[kernels_cpu]") {
  // 300007 runs on several TBB workers.
  for (int64_t n : {1, 3, 17, 67, 130, 300007}) {
    for (int alias : {0, 1, 2}) {  // out separate, out == a, out == b
      CAPTURE(n, alias);
      auto a = test::random_floats(n, 11, -4, 4);
      auto b = test::random_floats(n, 12, -4, 4);
      auto separate = test::nan_filled(n);
      float* out = alias == 0 ? separate.data() : alias == 1 ? a.data() : b.data();
      const AddParams p{.a = a.data(), .b = b.data(), .out = out, .n = n};
      std::vector<double> expected(n);
      reference::add(p, expected.data());
      add_cpu(p);
      // float32 rounds the exact sum to within half an ulp.
      const auto c = test::compare(out, expected.data(), n, 1e-7, 0);
      INFO(c.describe());
      CHECK(c.ok());
    }
  }
}

TEST_CASE("add_cpu takes float32 only", "[kernels_cpu]") {
  auto a = test::random_floats(4, 1);
  const AddParams p{.a = a.data(), .b = a.data(), .out = a.data(), .n = 4, .dtype = DType::kF16};
  CHECK_THROWS_AS(add_cpu(p), InternalError);
}

}  // namespace
}  // namespace alisa
