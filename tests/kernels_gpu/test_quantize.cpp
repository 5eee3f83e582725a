// GPU int4 / int8 dequantisation and int8 quantisation: bit for bit what the CPU kernels give,
// over odd sizes, strided and misaligned views (the scalar paths) and the special values, with f16,
// bf16 and f32 data (scales and offsets are f16 bits whatever the data). Bitwise holds for the
// 16-bit outputs as for f32: both sides compute the same float (fmaf(q, s, m), the product exact)
// and round it once to nearest even.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "kernels_cpu/quantize_cpu.h"
#include "kernels_gpu/quantize.cuh"
#include "runtime/core/gpu_device.h"
#include "runtime/ops/gpu_ops.h"
#include "tests/kernels_gpu/gpu_test_util.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

using test::DeviceBuffer;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The dtype of a case's data: f16, f32 and bf16 in turn.
DType data_dtype(uint64_t seed) {
  return test::kFloatDtypes[seed % std::size(test::kFloatDtypes)];
}

// Random values with constant runs (scale 0), tiny ranges (f16-subnormal scales) and offsets.
std::vector<float> test_values(DType dtype, size_t n, uint64_t seed) {
  std::vector<float> v = test::random_floats(n, seed, -3.0f, 5.0f);
  for (size_t i = 0; i < n; ++i) {
    if (i % 1000 >= 200 && i % 1000 < 300) v[i] = 0.625f;
    if (i % 1000 >= 500 && i % 1000 < 600) v[i] *= 1e-4f;
    if (i % 1000 >= 700 && i % 1000 < 800) v[i] += 100.0f;
  }
  test::round_to(dtype, v);
  return v;
}

DeviceBuffer to_device(const std::vector<uint8_t>& bytes) {
  return test::upload_raw(bytes);
}

std::vector<uint8_t> from_device(const void* src, size_t n) {
  return test::download_raw<uint8_t>(src, n);
}

// The GPU's bytes equal the CPU's; the elements at `checked` indices (all when empty) are
// finite and not all zero (the rest, gaps between rows, were poisoned on both sides).
void check_same(DType dtype, const std::vector<uint8_t>& gpu, const std::vector<uint8_t>& cpu,
                const std::vector<bool>& checked, const std::string& what) {
  REQUIRE(gpu.size() == cpu.size());
  size_t n_diff = 0, first_diff = 0, n_nonfinite = 0, n_nonzero = 0;
  const size_t element = dtype_size(dtype), n = gpu.size() / element;
  for (size_t i = 0; i < n; ++i) {
    if (std::memcmp(gpu.data() + i * element, cpu.data() + i * element, element) != 0) {
      if (n_diff++ == 0) first_diff = i;
    }
    if (!checked.empty() && !checked[i]) continue;
    const float v = test::decode(dtype, gpu.data(), i);
    if (!std::isfinite(v)) ++n_nonfinite;
    if (v != 0.0f) ++n_nonzero;
  }
  INFO(what << ": " << n_diff << " of " << n << " elements differ (first at " << first_diff
            << ": gpu " << test::decode(dtype, gpu.data(), first_diff) << ", cpu "
            << test::decode(dtype, cpu.data(), first_diff) << "), non-finite " << n_nonfinite
            << ", non-zero " << n_nonzero);
  CHECK(n_diff == 0);
  CHECK(n_nonfinite == 0);
  CHECK(n_nonzero > 0);
}

// Special rows planted in x [rows, stride]: signed zeros, a constant, a NaN, exact half-way codes.
void plant_special_rows(std::vector<float>& x, int64_t rows, int64_t len, int64_t stride) {
  if (rows < 4 || len < 4) return;
  for (int64_t j = 0; j < len; ++j) {
    x[j] = j % 2 == 0 ? -0.0f : 0.0f;
    x[stride + j] = 7.0f;
    x[3 * stride + j] = static_cast<float>((j % 4 == 0)   ? 0
                                           : (j % 4 == 1) ? 510
                                           : (j % 4 == 2) ? 3
                                                          : 5);
  }
  x[2 * stride + 1] = kNaN;
}

struct Int8Data {
  std::vector<uint8_t> q;
  std::vector<uint16_t> scale, zero;
};

Int8Data quantize_int8_on_cpu(DType x_dtype, const std::vector<uint8_t>& x_raw, int64_t rows,
                              int64_t len, int64_t stride) {
  Int8Data d{.q = std::vector<uint8_t>(static_cast<size_t>(rows * len)),
             .scale = std::vector<uint16_t>(static_cast<size_t>(rows)),
             .zero = std::vector<uint16_t>(static_cast<size_t>(rows))};
  quantize_int8_cpu({.x = x_raw.data(),
                     .x_dtype = x_dtype,
                     .q = d.q.data(),
                     .scale = d.scale.data(),
                     .zero = d.zero.data(),
                     .n_rows = rows,
                     .row_len = len,
                     .x_row_stride = stride});
  return d;
}

struct RowShape {
  int64_t rows, len, gap;
};
// Vector paths (len % 16 == 0, 16-byte aligned rows) and scalar ones (odd lengths and strides).
constexpr RowShape kRowShapes[] = {{1, 1, 0},    {7, 5, 3},   {33, 64, 0}, {1000, 128, 256},
                                   {300, 80, 8}, {50, 64, 1}, {9, 16, 0},  {2049, 128, 0}};

}  // namespace

TEST_CASE("gpu int4 dequantisation equals the CPU's bit for bit", "[gpu][quantize]") {
  const int64_t sizes[] = {1, 2, 31, 32, 33, 64, 65, 1000, 64 * 1000 + 17, (int64_t{1} << 22) + 5};
  uint64_t seed = 600;
  // Tiled path where a 16-byte piece of output stays in one group (64: a shift per piece, 96
  // and 48: a division; 4: f32 only), scalar path otherwise (7; 4 with f16 or bf16).
  for (const int64_t group : {int64_t{64}, int64_t{96}, int64_t{48}, int64_t{4}, int64_t{7}}) {
    for (const int64_t n : sizes) {
      if (group != 64 && n > 100000) continue;
      const DType x_dtype = data_dtype(seed);
      const std::vector<float> x = test_values(x_dtype, static_cast<size_t>(n), seed++);
      const std::vector<uint8_t> x_raw = test::encode(x_dtype, x);
      const int64_t n_groups = int4_n_groups(n, group);
      std::vector<uint8_t> packed(static_cast<size_t>(int4_packed_bytes(n)));
      std::vector<uint16_t> scale(static_cast<size_t>(n_groups)), min(scale);
      quantize_int4_cpu({.x = x_raw.data(),
                         .x_dtype = x_dtype,
                         .packed = packed.data(),
                         .scale = scale.data(),
                         .min = min.data(),
                         .n = n,
                         .group = group});
      const DeviceBuffer packed_d = test::upload_raw(packed);
      const DeviceBuffer scale_d = test::upload_raw(scale), min_d = test::upload_raw(min);
      for (const DType out_dtype : test::kFloatDtypes) {
        for (const int64_t offset : {int64_t{0}, int64_t{1}}) {  // 1: misaligned out
          const size_t element = dtype_size(out_dtype);
          const size_t total = static_cast<size_t>(n + offset);
          const std::vector<uint8_t> poison =
              test::encode(out_dtype, std::vector<float>(total, kNaN));
          std::vector<uint8_t> expected = poison;
          DequantizeInt4Params p{.packed = packed.data(),
                                 .scale = scale.data(),
                                 .min = min.data(),
                                 .out = expected.data() + offset * element,
                                 .out_dtype = out_dtype,
                                 .n = n,
                                 .group = group};
          dequantize_int4_cpu(p);
          const DeviceBuffer out_d = to_device(poison);
          p.packed = packed_d.as<uint8_t>();
          p.scale = scale_d.as<uint16_t>();
          p.min = min_d.as<uint16_t>();
          p.out = test::advance(out_d.get(), out_dtype, static_cast<size_t>(offset));
          gpu::dequantize_int4_gpu(p, nullptr);
          std::vector<bool> checked(total, true);
          if (offset == 1) checked[0] = false;
          check_same(out_dtype, from_device(out_d.get(), total * element), expected, checked,
                     str("int4 group=", group, " n=", n, " x=", dtype_name(x_dtype),
                         " out=", dtype_name(out_dtype), " offset=", offset));
        }
      }
    }
  }
}

TEST_CASE("gpu int8 row dequantisation equals the CPU's bit for bit", "[gpu][quantize]") {
  uint64_t seed = 700;
  for (const RowShape& sh : kRowShapes) {
    const int64_t stride = sh.len + sh.gap;
    const size_t total = static_cast<size_t>(sh.rows * stride);
    const DType x_dtype = data_dtype(seed);
    std::vector<float> x = test_values(x_dtype, total, seed++);
    plant_special_rows(x, sh.rows, sh.len, stride);
    const Int8Data d =
        quantize_int8_on_cpu(x_dtype, test::encode(x_dtype, x), sh.rows, sh.len, stride);
    const DeviceBuffer q_d = test::upload_raw(d.q);
    const DeviceBuffer scale_d = test::upload_raw(d.scale), zero_d = test::upload_raw(d.zero);
    std::vector<bool> in_row(total);
    for (size_t i = 0; i < total; ++i) in_row[i] = static_cast<int64_t>(i) % stride < sh.len;
    for (const DType out_dtype : test::kFloatDtypes) {
      const std::vector<uint8_t> poison = test::encode(out_dtype, std::vector<float>(total, kNaN));
      std::vector<uint8_t> expected = poison;
      DequantizeInt8Params p{.q = d.q.data(),
                             .scale = d.scale.data(),
                             .zero = d.zero.data(),
                             .out = expected.data(),
                             .out_dtype = out_dtype,
                             .n_rows = sh.rows,
                             .row_len = sh.len,
                             .out_row_stride = stride};
      dequantize_int8_cpu(p);
      const DeviceBuffer out_d = to_device(poison);
      p.q = q_d.as<uint8_t>();
      p.scale = scale_d.as<uint16_t>();
      p.zero = zero_d.as<uint16_t>();
      p.out = out_d.get();
      gpu::dequantize_int8_gpu(p, nullptr);
      check_same(out_dtype, from_device(out_d.get(), poison.size()), expected, in_row,
                 str("int8 dequant rows=", sh.rows, " len=", sh.len, " stride=", stride,
                     " out=", dtype_name(out_dtype)));
    }
  }
}

TEST_CASE("gpu int8 row quantisation equals the CPU's bit for bit", "[gpu][quantize]") {
  uint64_t seed = 800;
  for (const RowShape& sh : kRowShapes) {
    for (const DType x_dtype : test::kFloatDtypes) {
      const int64_t stride = sh.len + sh.gap;
      std::vector<float> x = test_values(x_dtype, static_cast<size_t>(sh.rows * stride), seed++);
      plant_special_rows(x, sh.rows, sh.len, stride);
      const std::vector<uint8_t> x_raw = test::encode(x_dtype, x);
      const Int8Data expected = quantize_int8_on_cpu(x_dtype, x_raw, sh.rows, sh.len, stride);

      const DeviceBuffer x_d = to_device(x_raw);
      DeviceBuffer q_d = to_device(std::vector<uint8_t>(expected.q.size(), 0xaa));
      DeviceBuffer scale_d = test::upload_raw(std::vector<uint16_t>(expected.scale.size(), 0x7e00));
      DeviceBuffer zero_d = test::upload_raw(std::vector<uint16_t>(expected.zero.size(), 0x7e00));
      gpu::quantize_int8_gpu({.x = x_d.get(),
                              .x_dtype = x_dtype,
                              .q = q_d.as<uint8_t>(),
                              .scale = scale_d.as<uint16_t>(),
                              .zero = zero_d.as<uint16_t>(),
                              .n_rows = sh.rows,
                              .row_len = sh.len,
                              .x_row_stride = stride},
                             nullptr);
      const std::vector<uint8_t> q = from_device(q_d.get(), expected.q.size());
      const auto scale = test::download_raw<uint16_t>(scale_d.get(), expected.scale.size());
      const auto zero = test::download_raw<uint16_t>(zero_d.get(), expected.zero.size());
      INFO("int8 quant rows=" << sh.rows << " len=" << sh.len << " stride=" << stride
                              << " x=" << dtype_name(x_dtype));
      CHECK(q == expected.q);
      CHECK(scale == expected.scale);
      CHECK(zero == expected.zero);
      // Not trivially equal: the codes span the range.
      CHECK((sh.len < 16 || std::count(q.begin(), q.end(), uint8_t{255}) > 0));
    }
  }
}

TEST_CASE("GpuOps quantisation ops equal CpuOps on strided cache views", "[gpu][quantize]") {
  GpuDevice device(0, size_t{256} << 20);
  GpuOps ops(device);
  // Scales and offsets are f16 bits whichever 16-bit float the data is.
  constexpr DType kAffine = DType::kF16;
  SECTION("dequantize_int4") {
    for (const DType dtype : {DType::kF16, DType::kBF16}) {
      INFO(dtype_name(dtype));
      const int64_t n = 4096 * 3 + 40;
      const std::vector<float> x = test_values(dtype, static_cast<size_t>(n), 900);
      std::vector<uint8_t> x_raw = test::encode(dtype, x);
      const int64_t n_groups = int4_n_groups(n, kInt4Group);
      std::vector<uint8_t> packed(static_cast<size_t>(int4_packed_bytes(n)));
      std::vector<uint16_t> scale(static_cast<size_t>(n_groups)), min(scale);
      quantize_int4_cpu(
          quantize_int4_params(Tensor(x_raw.data(), nullptr, dtype, {n}),
                               Tensor(packed.data(), nullptr, DType::kU8, {int4_packed_bytes(n)}),
                               Tensor(scale.data(), nullptr, kAffine, {n_groups}),
                               Tensor(min.data(), nullptr, kAffine, {n_groups})));
      std::vector<uint16_t> expected(static_cast<size_t>(n));
      dequantize_int4_cpu({.packed = packed.data(),
                           .scale = scale.data(),
                           .min = min.data(),
                           .out = expected.data(),
                           .out_dtype = dtype,
                           .n = n,
                           .group = kInt4Group});

      const Buffer packed_b = device.allocate(packed.size(), "packed");
      const Buffer scale_b = device.allocate(scale.size() * 2, "scale");
      const Buffer min_b = device.allocate(min.size() * 2, "min");
      const Buffer out_b = device.allocate(static_cast<size_t>(n) * 2, "out");
      test::upload_bytes(packed_b.data(), packed.data(), packed.size());
      test::upload_bytes(scale_b.data(), scale.data(), scale.size() * 2);
      test::upload_bytes(min_b.data(), min.data(), min.size() * 2);
      ops.dequantize_int4(Tensor(packed_b.data(), &device, DType::kU8, {int4_packed_bytes(n)}),
                          Tensor(scale_b.data(), &device, kAffine, {n_groups}),
                          Tensor(min_b.data(), &device, kAffine, {n_groups}),
                          Tensor(out_b.data(), &device, dtype, {n}));
      CHECK(test::download_raw<uint16_t>(out_b.data(), static_cast<size_t>(n)) == expected);
    }
  }
  SECTION("int8 rows of one head in a [tokens, heads * head_dim] view") {
    for (const DType dtype : {DType::kF16, DType::kBF16}) {
      INFO(dtype_name(dtype));
      const int64_t tokens = 37, heads = 4, head_dim = 64, width = heads * head_dim;
      const std::vector<float> x = test_values(dtype, static_cast<size_t>(tokens * width), 910);
      const std::vector<uint8_t> x_raw = test::encode(dtype, x);
      const Int8Data expected = quantize_int8_on_cpu(
          dtype, std::vector<uint8_t>(x_raw.begin() + 2 * 2 * head_dim, x_raw.end()), tokens,
          head_dim, width);

      const Buffer x_b = device.allocate(x_raw.size(), "x");
      const Buffer q_b = device.allocate(expected.q.size(), "q");
      const Buffer scale_b = device.allocate(static_cast<size_t>(tokens) * 2, "scale");
      const Buffer zero_b = device.allocate(static_cast<size_t>(tokens) * 2, "zero");
      const Buffer out_b = device.allocate(x_raw.size(), "out");
      test::upload_bytes(x_b.data(), x_raw.data(), x_raw.size());
      const std::vector<uint8_t> poison = test::encode(dtype, std::vector<float>(x.size(), kNaN));
      test::upload_bytes(out_b.data(), poison.data(), poison.size());
      const Tensor x_t = Tensor(x_b.data(), &device, dtype, {tokens, width});
      const Tensor out_t = Tensor(out_b.data(), &device, dtype, {tokens, width});
      const Tensor q_t(q_b.data(), &device, DType::kU8, {tokens, head_dim});
      const Tensor scale_t(scale_b.data(), &device, kAffine, {tokens});
      const Tensor zero_t(zero_b.data(), &device, kAffine, {tokens});
      ops.quantize_int8_rows(x_t.slice(1, 2 * head_dim, 3 * head_dim), q_t, scale_t, zero_t);
      ops.dequantize_int8_rows(q_t, scale_t, zero_t, out_t.slice(1, 2 * head_dim, 3 * head_dim));
      CHECK(test::download_raw<uint8_t>(q_b.data(), expected.q.size()) == expected.q);
      CHECK(test::download_raw<uint16_t>(scale_b.data(), static_cast<size_t>(tokens)) ==
            expected.scale);
      CHECK(test::download_raw<uint16_t>(zero_b.data(), static_cast<size_t>(tokens)) ==
            expected.zero);

      std::vector<uint8_t> out_expected = poison;
      dequantize_int8_cpu({.q = expected.q.data(),
                           .scale = expected.scale.data(),
                           .zero = expected.zero.data(),
                           .out = out_expected.data() + 2 * 2 * head_dim,
                           .out_dtype = dtype,
                           .n_rows = tokens,
                           .row_len = head_dim,
                           .out_row_stride = width});
      std::vector<bool> in_head(x.size());
      for (size_t i = 0; i < in_head.size(); ++i) {
        const int64_t e = static_cast<int64_t>(i) % width;
        in_head[i] = e >= 2 * head_dim && e < 3 * head_dim;
      }
      check_same(dtype, from_device(out_b.data(), poison.size()), out_expected, in_head,
                 "GpuOps int8 head view");
    }
  }
}

}  // namespace alisa
