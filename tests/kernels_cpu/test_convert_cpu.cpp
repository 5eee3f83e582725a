#include <catch2/catch.hpp>
#include <cmath>

#include "kernels_cpu/convert_cpu.h"
#include "tests/test_support.h"

namespace alisa {

TEST_CASE("convert_cpu round-trips f32 through f16 and bf16 within their precision",
          "[kernels_cpu][convert]") {
  const int64_t n = GENERATE(1, 3, 17, 70001);
  const std::vector<float> x = test::random_floats(static_cast<size_t>(n), 42, -300.0f, 300.0f);
  for (const auto& [dtype, rtol] :
       {std::pair{DType::kF16, 1.0 / 2048}, {DType::kBF16, 1.0 / 256}}) {
    std::vector<uint16_t> narrow(static_cast<size_t>(n), 0xffff);
    convert_cpu(
        {.x = x.data(), .out = narrow.data(), .n = n, .x_dtype = DType::kF32, .out_dtype = dtype});
    std::vector<float> back = test::nan_filled(static_cast<size_t>(n));
    convert_cpu({.x = narrow.data(),
                 .out = back.data(),
                 .n = n,
                 .x_dtype = dtype,
                 .out_dtype = DType::kF32});
    const test::Comparison c = test::compare(back.data(), x.data(), x.size(), rtol, 0.0);
    INFO(dtype_name(dtype) << ": " << c.describe());
    CHECK(c.ok());
  }
}

}  // namespace alisa
