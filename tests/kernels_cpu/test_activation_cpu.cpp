#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "kernels_cpu/activation_cpu.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

TEST_CASE("activation_cpu matches the reference", "[kernels_cpu]") {
  const Activation activations[] = {Activation::kRelu, Activation::kGelu, Activation::kGeluTanh,
                                    Activation::kSilu};
  for (Activation act : activations) {
    for (int64_t n : {1, 3, 17, 67, 130, 100003}) {  // 100003 runs on several TBB workers
      for (bool gated : {false, true}) {
        for (bool in_place : {false, true}) {
          CAPTURE(static_cast<int>(act), n, gated, in_place);
          auto x = test::random_floats(n, 21, -8, 8);  // reaches the tails of every curve
          const auto up = test::random_floats(n, 22, -2, 2);
          auto separate = test::nan_filled(n);
          float* out = in_place ? x.data() : separate.data();
          const ActivationParams p{.x = x.data(),
                                   .up = gated ? up.data() : nullptr,
                                   .out = out,
                                   .n = n,
                                   .activation = act};
          std::vector<double> expected(n);
          reference::activation(p, expected.data());
          activation_cpu(p);
          // float32 erf/tanh/exp are within a few ulp; 1 + erf(x) near x = -8 loses the rest
          // to cancellation, hence the absolute term.
          const auto c = test::compare(out, expected.data(), n, 1e-5, 1e-6);
          INFO(c.describe());
          CHECK(c.ok());
        }
      }
    }
  }
}

}  // namespace
}  // namespace alisa
