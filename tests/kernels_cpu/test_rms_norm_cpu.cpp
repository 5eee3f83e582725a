#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "kernels_cpu/rms_norm_cpu.h"
#include "runtime/base/common.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

// Where out and residual_out go: their own buffers, or over x or residual (all allowed).
enum class Alias { kNone, kOutIsX, kResidualOutIsX, kOutIsResidual, kResidualOutIsResidual };
const Alias kAliases[] = {Alias::kNone, Alias::kOutIsX, Alias::kResidualOutIsX,
                          Alias::kOutIsResidual, Alias::kResidualOutIsResidual};

bool skip(Alias alias, bool with_residual, bool with_residual_out) {
  const bool on_residual = alias == Alias::kOutIsResidual || alias == Alias::kResidualOutIsResidual;
  const bool moves_residual_out =
      alias == Alias::kResidualOutIsX || alias == Alias::kResidualOutIsResidual;
  return (on_residual && !with_residual) || (moves_residual_out && !with_residual_out);
}

TEST_CASE("rms_norm_cpu matches the reference", "[kernels_cpu]") {
  struct Shape {
    int64_t n_rows, dim;
  };
  // 67 x 1000 runs on several TBB workers.
  const Shape shapes[] = {{1, 1}, {3, 3}, {17, 67}, {1, 130}, {67, 1000}};
  for (const Shape& s : shapes) {
    for (bool with_residual : {false, true}) {
      for (bool with_residual_out : {false, true}) {
        for (Alias alias : kAliases) {
          if (skip(alias, with_residual, with_residual_out)) continue;
          CAPTURE(s.n_rows, s.dim, with_residual, with_residual_out, static_cast<int>(alias));
          const size_t n = static_cast<size_t>(s.n_rows * s.dim);
          auto x = test::random_floats(n, 41, -2, 2);
          auto residual = test::random_floats(n, 42);
          const auto weight = test::random_floats(s.dim, 43, 0.5f, 1.5f);
          auto out_buffer = test::nan_filled(n);
          auto residual_out_buffer = test::nan_filled(n);
          float* out = alias == Alias::kOutIsX          ? x.data()
                       : alias == Alias::kOutIsResidual ? residual.data()
                                                        : out_buffer.data();
          float* residual_out = !with_residual_out                ? nullptr
                                : alias == Alias::kResidualOutIsX ? x.data()
                                : alias == Alias::kResidualOutIsResidual
                                    ? residual.data()
                                    : residual_out_buffer.data();
          const NormParams p{.x = x.data(),
                             .residual = with_residual ? residual.data() : nullptr,
                             .residual_out = residual_out,
                             .weight = weight.data(),
                             .out = out,
                             .n_rows = s.n_rows,
                             .dim = s.dim,
                             .eps = 1e-6f};
          std::vector<double> expected(n), expected_residual(n);
          reference::rms_norm(p, expected.data(), expected_residual.data());
          rms_norm_cpu(p);
          // Outputs are O(1); two float32 products after an exact-enough mean of squares.
          const auto c = test::compare(out, expected.data(), n, 1e-5, 1e-6);
          INFO(c.describe());
          CHECK(c.ok());
          if (residual_out != nullptr) {
            const auto r = test::compare(residual_out, expected_residual.data(), n, 1e-7, 0);
            INFO("residual_out: " << r.describe());
            CHECK(r.ok());
          }
        }
      }
    }
  }
}

TEST_CASE("rms_norm_cpu rejects a bias", "[kernels_cpu]") {
  const auto x = test::random_floats(4, 1);
  const auto weight = test::random_floats(4, 2);
  auto out = test::nan_filled(4);
  const NormParams p{.x = x.data(),
                     .weight = weight.data(),
                     .bias = weight.data(),
                     .out = out.data(),
                     .n_rows = 1,
                     .dim = 4};
  CHECK_THROWS_AS(rms_norm_cpu(p), InternalError);
}

}  // namespace
}  // namespace alisa
