// int4 weight and int8 KV compression on the CPU: the exact format on hand-made cases, codes
// against a double-precision reference, round trips within half a step, Ops on strided views.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels_cpu/quantize_cpu.h"
#include "runtime/ops/cpu_ops.h"
#include "runtime/ops/ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Values stored as `dtype` (f32 or f16) elements, as raw bytes.
std::vector<uint8_t> encode(DType dtype, const std::vector<float>& values) {
  std::vector<uint8_t> bytes(values.size() * dtype_size(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kF16) {
      const uint16_t h = float_to_half_bits(values[i]);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    } else {
      std::memcpy(bytes.data() + 4 * i, &values[i], 4);
    }
  }
  return bytes;
}

float decode(DType dtype, const std::vector<uint8_t>& bytes, size_t i) {
  if (dtype == DType::kF16) {
    uint16_t h;
    std::memcpy(&h, bytes.data() + 2 * i, 2);
    return half_bits_to_float(h);
  }
  float f;
  std::memcpy(&f, bytes.data() + 4 * i, 4);
  return f;
}

// The raw element i of `bytes`, for bitwise comparisons.
uint32_t raw(DType dtype, const std::vector<uint8_t>& bytes, size_t i) {
  uint32_t r = 0;
  std::memcpy(&r, bytes.data() + dtype_size(dtype) * i, dtype_size(dtype));
  return r;
}

// What the format stores for value v as `dtype`: f16 bits or f32 bits.
uint32_t raw_of(DType dtype, float v) {
  if (dtype == DType::kF16) return float_to_half_bits(v);
  uint32_t r;
  std::memcpy(&r, &v, 4);
  return r;
}

std::vector<uint8_t> poisoned(DType dtype, size_t n) {
  return encode(dtype, std::vector<float>(n, kNaN));
}

// Random values rounded to `dtype`, with constant and all-but-constant runs planted in them.
std::vector<float> test_values(DType dtype, size_t n, uint64_t seed) {
  std::vector<float> v = test::random_floats(n, seed, -3.0f, 5.0f);
  for (size_t i = 0; i < n; ++i) {
    if (i % 1000 >= 200 && i % 1000 < 300) v[i] = 0.625f;         // constant groups: scale 0
    if (i % 1000 >= 500 && i % 1000 < 600) v[i] *= 1e-4f;         // scales in f16's subnormal range
    if (i % 1000 >= 700 && i % 1000 < 800) v[i] = 100.0f + v[i];  // offset far from zero
  }
  if (dtype == DType::kF16) {
    for (float& x : v) x = half_bits_to_float(float_to_half_bits(x));
  }
  return v;
}

// Checks every code, the stored scale and min of one group (or row) of values, and the round
// trip of `deq` (raw out_dtype elements) against the double-precision reference.
struct GroupChecker {
  float levels;
  DType out_dtype;
  size_t n_checked = 0, n_near_tie = 0, n_bad_code = 0, n_bad_affine = 0, n_bad_error = 0;
  size_t n_bad_bits = 0, n_nonfinite = 0, n_nonzero = 0;
  double worst_error_in_steps = 0;

  void check(const float* x, int64_t len, uint16_t scale_bits, uint16_t min_bits,
             const std::vector<uint32_t>& q, const std::vector<uint8_t>& deq, size_t deq_offset) {
    float mn = std::numeric_limits<float>::infinity(), mx = -mn;
    for (int64_t i = 0; i < len; ++i) {
      if (std::isnan(x[i])) continue;
      mn = std::min(mn, x[i]);
      mx = std::max(mx, x[i]);
    }
    // The format: f16 of the float range over `levels` steps, and of the min; -0 counts as +0.
    mn += 0.0f;
    mx += 0.0f;
    if (scale_bits != float_to_half_bits((mx - mn) / levels) ||
        min_bits != float_to_half_bits(mn)) {
      ++n_bad_affine;
    }
    const double s = half_bits_to_float(scale_bits), m = half_bits_to_float(min_bits);
    for (int64_t i = 0; i < len; ++i) {
      ++n_checked;
      int expected = 0;
      bool near_tie = false;
      if (s != 0 && !std::isnan(x[i])) {
        const double t = std::clamp((x[i] - m) / s, 0.0, static_cast<double>(levels));
        expected = static_cast<int>(std::nearbyint(t));
        // Float arithmetic may round a quotient this close to a half either way.
        near_tie = std::abs(t - std::floor(t) - 0.5) < 1e-4;
      }
      const int got = static_cast<int>(q[static_cast<size_t>(i)]);
      if (near_tie) ++n_near_tie;
      if (got != expected && !(near_tie && std::abs(got - expected) == 1)) ++n_bad_code;

      // Dequantised: fmaf(q, s, m) rounded to the output dtype, bit for bit.
      const float value =
          std::fmaf(static_cast<float>(got), static_cast<float>(s), static_cast<float>(m));
      const size_t o = deq_offset + static_cast<size_t>(i);
      if (raw(out_dtype, deq, o) != raw_of(out_dtype, value)) ++n_bad_bits;
      const float out = decode(out_dtype, deq, o);
      if (!std::isfinite(out)) ++n_nonfinite;
      if (out != 0.0f) ++n_nonzero;
      if (std::isnan(x[i])) continue;
      // Half a step, plus what rounding the range ends to f16 moved them, plus the output's
      // rounding.
      const double exact_step = (static_cast<double>(mx) - mn) / levels;
      double bound = s / 2 + std::abs(m - mn) + levels * std::abs(s - exact_step) +
                     1e-6 * (std::abs(x[i]) + s);
      if (out_dtype == DType::kF16) bound += std::ldexp(std::abs(x[i]) + s, -11);
      const double error = std::abs(static_cast<double>(out) - x[i]);
      if (error > bound) ++n_bad_error;
      if (s > 0) worst_error_in_steps = std::max(worst_error_in_steps, error / s);
    }
  }

  std::string describe() const {
    return str("checked=", n_checked, " near_tie=", n_near_tie, " bad_code=", n_bad_code,
               " bad_scale_or_min=", n_bad_affine, " bad_error=", n_bad_error,
               " bad_bits=", n_bad_bits, " nonfinite=", n_nonfinite, " nonzero=", n_nonzero,
               " worst_error_in_steps=", worst_error_in_steps);
  }
  bool ok() const {
    return n_checked > 0 && n_bad_code == 0 && n_bad_affine == 0 && n_bad_error == 0 &&
           n_bad_bits == 0 && n_nonfinite == 0 && n_nonzero > 0 && n_near_tie < n_checked / 100 + 2;
  }
};

std::vector<uint32_t> unpack_int4(const std::vector<uint8_t>& packed, size_t begin, size_t end) {
  std::vector<uint32_t> q;
  for (size_t i = begin; i < end; ++i) q.push_back((packed[i / 2] >> (4 * (i % 2))) & 15u);
  return q;
}

}  // namespace

TEST_CASE("int4 quantisation packs the hand-made example exactly", "[kernels_cpu][quantize]") {
  // Groups of 3 (odd, so bytes straddle groups), 9 values (odd, so the last high nibble is 0).
  // Group 0: min 0, max 15, scale 1. Group 1: scale 2, 15 / 2 = 7.5 ties to 8. Group 2: scale 2,
  // 13 / 2 = 6.5 ties to 6.
  const std::vector<float> x = {0, 15, 5, 30, 0, 15, 13, 0, 30};
  std::vector<uint8_t> packed(5, 0xaa);
  std::vector<uint16_t> scale(3, 0xffff), min(3, 0xffff);
  quantize_int4_cpu({.x = x.data(),
                     .x_dtype = DType::kF32,
                     .packed = packed.data(),
                     .scale = scale.data(),
                     .min = min.data(),
                     .n = 9,
                     .group = 3});
  CHECK(packed == std::vector<uint8_t>{0xf0, 0xf5, 0x80, 0x06, 0x0f});
  CHECK(scale == std::vector<uint16_t>{0x3c00, 0x4000, 0x4000});  // f16 1, 2, 2
  CHECK(min == std::vector<uint16_t>{0, 0, 0});

  std::vector<float> out = test::nan_filled(9);
  dequantize_int4_cpu({.packed = packed.data(),
                       .scale = scale.data(),
                       .min = min.data(),
                       .out = out.data(),
                       .out_dtype = DType::kF32,
                       .n = 9,
                       .group = 3});
  CHECK(out == std::vector<float>{0, 15, 5, 30, 0, 16, 12, 0, 30});

  // A constant group stores scale 0 and its value as the min; codes are 0; -0 is stored as +0.
  const std::vector<float> c = {-0.0f, 0.0f, -0.0f, 2.5f, 2.5f};
  std::vector<uint8_t> cp(3, 0xaa);
  quantize_int4_cpu({.x = c.data(),
                     .x_dtype = DType::kF32,
                     .packed = cp.data(),
                     .scale = scale.data(),
                     .min = min.data(),
                     .n = 5,
                     .group = 3});
  CHECK(cp == std::vector<uint8_t>{0, 0, 0});
  CHECK(scale[0] == 0);
  CHECK(scale[1] == 0);
  CHECK(min[0] == 0);
  CHECK(min[1] == float_to_half_bits(2.5f));
}

TEST_CASE("int4 round trip stays within half a step", "[kernels_cpu][quantize]") {
  uint64_t seed = 7000;
  for (const int64_t group : {int64_t{64}, int64_t{7}, int64_t{1}}) {
    for (const int64_t n : {1, 2, 63, 64, 65, 127, 1000, 4097, 100001}) {
      if (group == 1 && n > 1000) continue;
      for (const DType x_dtype : {DType::kF32, DType::kF16}) {
        const std::vector<float> x = test_values(x_dtype, static_cast<size_t>(n), seed++);
        const std::vector<uint8_t> x_raw = encode(x_dtype, x);
        const int64_t n_groups = int4_n_groups(n, group);
        std::vector<uint8_t> packed(static_cast<size_t>(int4_packed_bytes(n)), 0xaa);
        std::vector<uint16_t> scale(static_cast<size_t>(n_groups), 0x7e00);
        std::vector<uint16_t> min(scale);
        quantize_int4_cpu({.x = x_raw.data(),
                           .x_dtype = x_dtype,
                           .packed = packed.data(),
                           .scale = scale.data(),
                           .min = min.data(),
                           .n = n,
                           .group = group});
        if (n % 2 == 1) CHECK((packed.back() >> 4) == 0);  // the unused nibble
        for (const DType out_dtype : {DType::kF32, DType::kF16}) {
          std::vector<uint8_t> out = poisoned(out_dtype, static_cast<size_t>(n));
          dequantize_int4_cpu({.packed = packed.data(),
                               .scale = scale.data(),
                               .min = min.data(),
                               .out = out.data(),
                               .out_dtype = out_dtype,
                               .n = n,
                               .group = group});
          GroupChecker checker{.levels = 15.0f, .out_dtype = out_dtype};
          for (int64_t g = 0; g < n_groups; ++g) {
            const int64_t begin = g * group, end = std::min(n, begin + group);
            checker.check(x.data() + begin, end - begin, scale[g], min[g],
                          unpack_int4(packed, begin, end), out, begin);
          }
          INFO("group=" << group << " n=" << n << " x=" << dtype_name(x_dtype)
                        << " out=" << dtype_name(out_dtype) << ": " << checker.describe());
          CHECK(checker.ok());
          // The bound is not slack (groups of 1 are constant: no step).
          if (n >= 1000 && group > 1) CHECK(checker.worst_error_in_steps > 0.4);
        }
      }
    }
  }
}

TEST_CASE("int8 row quantisation: hand-made rows, NaN and signed zeros",
          "[kernels_cpu][quantize]") {
  // Rows of 4, 6 apart (the last two elements of each row are gaps the kernels must not touch).
  const std::vector<float> rows[] = {
      {0, 3, 510, 5},            // scale 2: 1.5 ties to 2, 2.5 ties to 2
      {7, 7, 7, 7},              // constant: scale 0, zero 7
      {-0.0f, 0, -0.0f, -0.0f},  // zeros: stored as +0
      {kNaN, 0, 255, 1},         // NaN left out of the range, code 0
  };
  std::vector<float> x(4 * 6, 99.0f);
  for (size_t r = 0; r < 4; ++r) std::copy(rows[r].begin(), rows[r].end(), x.begin() + 6 * r);
  std::vector<uint8_t> q(16, 0xaa);
  std::vector<uint16_t> scale(4, 0x7e00), zero(4, 0x7e00);
  quantize_int8_cpu({.x = x.data(),
                     .x_dtype = DType::kF32,
                     .q = q.data(),
                     .scale = scale.data(),
                     .zero = zero.data(),
                     .n_rows = 4,
                     .row_len = 4,
                     .x_row_stride = 6});
  CHECK(q == std::vector<uint8_t>{0, 2, 255, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 1});
  CHECK(scale == std::vector<uint16_t>{0x4000, 0, 0, 0x3c00});
  CHECK(zero == std::vector<uint16_t>{0, float_to_half_bits(7.0f), 0, 0});

  std::vector<float> out(4 * 6, -5.0f);
  dequantize_int8_cpu({.q = q.data(),
                       .scale = scale.data(),
                       .zero = zero.data(),
                       .out = out.data(),
                       .out_dtype = DType::kF32,
                       .n_rows = 4,
                       .row_len = 4,
                       .out_row_stride = 6});
  CHECK(out == std::vector<float>{0, 4, 510, 4, -5, -5, 7, 7, 7,   7, -5, -5,
                                  0, 0, 0,   0, -5, -5, 0, 0, 255, 1, -5, -5});
  CHECK(!std::signbit(out[12]));
}

TEST_CASE("int8 rows round trip within half a step, strided", "[kernels_cpu][quantize]") {
  uint64_t seed = 8000;
  struct Shape {
    int64_t rows, len, gap;
  };
  for (const Shape& sh : {Shape{1, 1, 0}, Shape{7, 5, 3}, Shape{33, 64, 0}, Shape{1000, 128, 256},
                          Shape{300, 80, 8}}) {
    for (const DType x_dtype : {DType::kF32, DType::kF16}) {
      const int64_t stride = sh.len + sh.gap;
      const std::vector<float> x =
          test_values(x_dtype, static_cast<size_t>(sh.rows * stride), seed++);
      const std::vector<uint8_t> x_raw = encode(x_dtype, x);
      std::vector<uint8_t> q(static_cast<size_t>(sh.rows * sh.len), 0xaa);
      std::vector<uint16_t> scale(static_cast<size_t>(sh.rows), 0x7e00), zero(scale);
      quantize_int8_cpu({.x = x_raw.data(),
                         .x_dtype = x_dtype,
                         .q = q.data(),
                         .scale = scale.data(),
                         .zero = zero.data(),
                         .n_rows = sh.rows,
                         .row_len = sh.len,
                         .x_row_stride = stride});
      for (const DType out_dtype : {DType::kF32, DType::kF16}) {
        std::vector<uint8_t> out = poisoned(out_dtype, static_cast<size_t>(sh.rows * stride));
        dequantize_int8_cpu({.q = q.data(),
                             .scale = scale.data(),
                             .zero = zero.data(),
                             .out = out.data(),
                             .out_dtype = out_dtype,
                             .n_rows = sh.rows,
                             .row_len = sh.len,
                             .out_row_stride = stride});
        GroupChecker checker{.levels = 255.0f, .out_dtype = out_dtype};
        size_t gaps_touched = 0;
        for (int64_t r = 0; r < sh.rows; ++r) {
          const auto begin = q.begin() + r * sh.len;
          checker.check(x.data() + r * stride, sh.len, scale[r], zero[r],
                        std::vector<uint32_t>(begin, begin + sh.len), out, r * stride);
          for (int64_t j = sh.len; j < stride; ++j) {
            if (!std::isnan(decode(out_dtype, out, r * stride + j))) ++gaps_touched;
          }
        }
        INFO("rows=" << sh.rows << " len=" << sh.len << " stride=" << stride
                     << " x=" << dtype_name(x_dtype) << " out=" << dtype_name(out_dtype) << ": "
                     << checker.describe());
        CHECK(checker.ok());
        CHECK(gaps_touched == 0);
      }
    }
  }
}

TEST_CASE("CpuOps quantisation ops take tensors and strided row views", "[kernels_cpu][quantize]") {
  CpuOps ops(2);
  SECTION("dequantize_int4 equals the kernel on the flat array") {
    const int64_t n = 3 * 50;  // 3 groups of 64, the last partial
    const std::vector<float> x = test_values(DType::kF32, n, 9000);
    std::vector<float> x_copy = x;
    std::vector<uint8_t> packed(75);
    std::vector<uint16_t> scale(3), min(3);
    const Tensor xt(x_copy.data(), nullptr, DType::kF32, {3, 50});
    const Tensor pt(packed.data(), nullptr, DType::kU8, {75});
    const Tensor st(scale.data(), nullptr, DType::kF16, {3});
    const Tensor mt(min.data(), nullptr, DType::kF16, {3});
    quantize_int4_cpu(quantize_int4_params(xt, pt, st, mt));
    std::vector<uint16_t> out(n, 0x7e00), expected(n, 0x7e00);
    ops.dequantize_int4(pt, st, mt, Tensor(out.data(), nullptr, DType::kF16, {3, 50}));
    dequantize_int4_cpu({.packed = packed.data(),
                         .scale = scale.data(),
                         .min = min.data(),
                         .out = expected.data(),
                         .out_dtype = DType::kF16,
                         .n = n,
                         .group = kInt4Group});
    CHECK(out == expected);
    CHECK(std::count(out.begin(), out.end(), uint16_t{0x7e00}) == 0);
    std::vector<uint16_t> short_scale(2);
    CHECK_THROWS_AS(ops.dequantize_int4(pt, Tensor(short_scale.data(), nullptr, DType::kF16, {2}),
                                        mt, Tensor(out.data(), nullptr, DType::kF16, {n})),
                    InternalError);
  }
  SECTION("int8 rows: one head of a [tokens, heads * head_dim] cache view") {
    const int64_t tokens = 6, heads = 3, head_dim = 16;
    std::vector<float> x = test_values(DType::kF32, tokens * heads * head_dim, 9100);
    const Tensor all(x.data(), nullptr, DType::kF32, {tokens, heads * head_dim});
    const Tensor head = all.slice(1, head_dim, 2 * head_dim);  // rows heads * head_dim apart
    std::vector<uint8_t> q(tokens * head_dim), q_expected(q.size());
    std::vector<uint16_t> scale(tokens), zero(tokens), scale_expected(tokens),
        zero_expected(tokens);
    const Tensor qt(q.data(), nullptr, DType::kU8, {tokens, head_dim});
    const Tensor st(scale.data(), nullptr, DType::kF16, {tokens});
    const Tensor zt(zero.data(), nullptr, DType::kF16, {tokens});
    ops.quantize_int8_rows(head, qt, st, zt);
    quantize_int8_cpu({.x = x.data() + head_dim,
                       .x_dtype = DType::kF32,
                       .q = q_expected.data(),
                       .scale = scale_expected.data(),
                       .zero = zero_expected.data(),
                       .n_rows = tokens,
                       .row_len = head_dim,
                       .x_row_stride = heads * head_dim});
    CHECK(q == q_expected);
    CHECK(scale == scale_expected);
    CHECK(zero == zero_expected);

    std::vector<float> out(x.size(), -7.0f);
    const Tensor out_all(out.data(), nullptr, DType::kF32, {tokens, heads * head_dim});
    ops.dequantize_int8_rows(qt, st, zt, out_all.slice(1, head_dim, 2 * head_dim));
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t e = 0; e < heads * head_dim; ++e) {
        const float v = out[t * heads * head_dim + e];
        if (e < head_dim || e >= 2 * head_dim) {
          CHECK(v == -7.0f);
        } else {
          const int64_t j = e - head_dim;
          CHECK(v == std::fmaf(q[t * head_dim + j], half_bits_to_float(scale[t]),
                               half_bits_to_float(zero[t])));
        }
      }
    }
    CHECK_THROWS_AS(ops.quantize_int8_rows(
                        head, Tensor(q.data(), nullptr, DType::kI8, {tokens, head_dim}), st, zt),
                    InternalError);
    CHECK_THROWS_AS(ops.dequantize_int8_rows(qt, st, zt, out_all.slice(1, 0, head_dim + 1)),
                    InternalError);
  }
}

}  // namespace alisa
