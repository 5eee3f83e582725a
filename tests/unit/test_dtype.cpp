#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "runtime/base/dtype.h"

namespace alisa {

TEST_CASE("every float16 value survives a round trip through float32", "[dtype]") {
  int checked = 0;
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const uint16_t h = static_cast<uint16_t>(bits);
    const float f = half_bits_to_float(h);
    if (std::isnan(f)) {
      CHECK(std::isnan(half_bits_to_float(float_to_half_bits(f))));
      continue;
    }
    INFO("half bits " << bits << " = " << f);
    REQUIRE(float_to_half_bits(f) == h);
    ++checked;
  }
  CHECK(checked == 65536 - 2046);  // all but the NaN encodings
}

TEST_CASE("float32 to float16 rounds to nearest even, subnormals included", "[dtype]") {
  CHECK(half_bits_to_float(float_to_half_bits(std::ldexp(1.0f, -24))) == std::ldexp(1.0f, -24));
  CHECK(float_to_half_bits(std::ldexp(1.0f, -25)) == 0);  // a tie rounds to even (zero)
  CHECK(float_to_half_bits(std::ldexp(1.5f, -25)) == 1);
  CHECK(float_to_half_bits(std::ldexp(3.0f, -25)) == 2);  // 1.5 units: tie to even (2)
  CHECK(float_to_half_bits(65504.0f) == 0x7bff);
  CHECK(float_to_half_bits(65520.0f) == 0x7c00);                      // rounds to infinity
  CHECK(float_to_half_bits(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie to even
  CHECK(float_to_half_bits(-2.0f) == 0xc000);
  // Between the largest subnormal and the smallest normal: rounds up into the normals.
  CHECK(float_to_half_bits(std::nextafter(std::ldexp(1.0f, -14), 0.0f)) == 0x0400);
}

TEST_CASE("bfloat16 conversion rounds to nearest even and keeps NaN", "[dtype]") {
  for (float f : {1.0f, -3.140625f, 1e-30f, 3e38f}) {
    CHECK(bf16_bits_to_float(float_to_bf16_bits(f)) == Approx(f).epsilon(1.0 / 256));
  }
  CHECK(std::isnan(bf16_bits_to_float(float_to_bf16_bits(std::nanf("")))));
  CHECK(float_to_bf16_bits(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);  // tie to even
}

}  // namespace alisa
