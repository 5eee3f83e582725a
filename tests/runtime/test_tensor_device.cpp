// Tensor views (slice, reshape, strides, contiguity), device memory accounting and its cap, and
// the CPU copy op between strided views.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <numeric>
#include <utility>
#include <vector>

#include "runtime/base/common.h"
#include "runtime/core/device.h"
#include "runtime/core/tensor.h"
#include "runtime/ops/cpu_ops.h"
#include "tests/test_support.h"

using alisa::allocate_tensor;
using alisa::Buffer;
using alisa::CpuDevice;
using alisa::DType;
using alisa::OwnedTensor;
using alisa::Tensor;
using Catch::Contains;

namespace {

int64_t offset_of(const Tensor& t, const int64_t (&index)[4]) {
  int64_t offset = 0;
  for (int d = 0; d < t.rank(); ++d) offset += index[d] * t.stride(d);
  return offset;
}

// Calls f(index) for every index of `t` (rank <= 4; missing dims are 0).
template <typename F>
void for_each_index(const Tensor& t, F&& f) {
  int64_t size[4] = {1, 1, 1, 1};
  for (int d = 0; d < t.rank(); ++d) size[d] = t.size(d);
  for (int64_t a = 0; a < size[0]; ++a)
    for (int64_t b = 0; b < size[1]; ++b)
      for (int64_t c = 0; c < size[2]; ++c)
        for (int64_t e = 0; e < size[3]; ++e) f({a, b, c, e});
}

// Fills a float tensor with distinct values (its linear index + base).
void iota(const Tensor& t, float base) {
  float* data = t.data_as<float>();
  std::iota(data, data + t.numel(), base);
}

// The copy op against a scalar loop: dst_view must equal src_view element by element, and every
// element of dst_whole outside dst_view must keep its value.
void check_copy(const Tensor& src_view, const Tensor& dst_whole, const Tensor& dst_view) {
  std::vector<float> expected(dst_whole.data_as<float>(),
                              dst_whole.data_as<float>() + dst_whole.numel());
  const float* dst_base = dst_whole.data_as<float>();
  for_each_index(src_view, [&](const int64_t(&i)[4]) {
    const int64_t slot = (dst_view.data_as<float>() - dst_base) + offset_of(dst_view, i);
    expected[static_cast<size_t>(slot)] = src_view.data_as<float>()[offset_of(src_view, i)];
  });
  alisa::CpuOps ops(1);
  ops.copy(src_view, dst_view);
  for (size_t k = 0; k < expected.size(); ++k) {
    INFO("element " << k);
    REQUIRE(dst_base[k] == expected[k]);
  }
}

}  // namespace

TEST_CASE("a tensor is a contiguous view with row-major strides", "[tensor]") {
  std::vector<float> data(2 * 3 * 4 * 5);
  const Tensor t(data.data(), nullptr, DType::kF32, {2, 3, 4, 5});
  CHECK(t.rank() == 4);
  CHECK(t.numel() == 120);
  CHECK(t.n_bytes() == 480);
  CHECK(t.stride(0) == 60);
  CHECK(t.stride(1) == 20);
  CHECK(t.stride(2) == 5);
  CHECK(t.stride(3) == 1);
  CHECK(t.stride(-1) == 1);
  CHECK(t.size(-1) == 5);
  CHECK(t.size(-4) == 2);
  CHECK(t.is_contiguous());
  CHECK(t.shape_string() == "[2, 3, 4, 5]");
  CHECK_FALSE(t.empty());

  const Tensor none;
  CHECK(none.empty());
  CHECK(none.numel() == 0);
  CHECK(none.rank() == 0);

  const Tensor half(data.data(), nullptr, DType::kF16, {7, 3});
  CHECK(half.n_bytes() == 42);
  CHECK_THROWS_AS(t.size(4), alisa::InternalError);
  CHECK_THROWS_AS(t.stride(-5), alisa::InternalError);
}

TEST_CASE("slice narrows one dim and keeps the strides", "[tensor]") {
  std::vector<float> data(2 * 10 * 3 * 4);
  const Tensor t(data.data(), nullptr, DType::kF32, {2, 10, 3, 4});
  iota(t, 0.0f);

  const Tensor tokens = t.slice(1, 5, 8);  // [2, 3, 3, 4]
  CHECK(tokens.shape_string() == "[2, 3, 3, 4]");
  CHECK(tokens.stride(0) == 120);
  CHECK(tokens.stride(1) == 12);
  CHECK(tokens.data_as<float>() == data.data() + 5 * 12);
  CHECK_FALSE(tokens.is_contiguous());
  CHECK(tokens.numel() == 72);
  CHECK(tokens.data_as<float>()[offset_of(tokens, {1, 2, 1, 3})] ==
        data[1 * 120 + 7 * 12 + 1 * 4 + 3]);

  const Tensor batch = t.slice(0, 1, 2);  // a leading slice stays contiguous
  CHECK(batch.is_contiguous());
  CHECK(batch.data_as<float>() == data.data() + 120);
  CHECK(batch.slice(1, 2, 4).is_contiguous());  // size-1 leading dim: still contiguous

  const Tensor heads = t.slice(-2, 1, 2);  // one head of every token
  CHECK(heads.size(2) == 1);
  CHECK_FALSE(heads.is_contiguous());
  CHECK(heads.data_as<float>() == data.data() + 4);

  const Tensor nothing = t.slice(1, 10, 10);
  CHECK(nothing.numel() == 0);
  CHECK(t.slice(1, 0, 10).is_contiguous());

  CHECK_THROWS_AS(t.slice(1, 3, 11), alisa::InternalError);
  CHECK_THROWS_AS(t.slice(1, 4, 3), alisa::InternalError);
  CHECK_THROWS_AS(t.slice(1, -1, 3), alisa::InternalError);
  CHECK_THROWS_AS(t.slice(4, 0, 1), alisa::InternalError);

  std::vector<uint16_t> halves(6 * 8);
  const Tensor h(halves.data(), nullptr, DType::kF16, {6, 8});
  CHECK(h.slice(0, 2, 4).data() == static_cast<void*>(halves.data() + 16));  // bytes by dtype
  CHECK(h.slice(1, 3, 5).data() == static_cast<void*>(halves.data() + 3));
}

TEST_CASE("reshape views the same elements and refuses strided views", "[tensor]") {
  std::vector<float> data(24);
  const Tensor t(data.data(), nullptr, DType::kF32, {2, 3, 4});
  const Tensor flat = t.reshape({6, 4});
  CHECK(flat.data() == t.data());
  CHECK(flat.shape_string() == "[6, 4]");
  CHECK(flat.stride(0) == 4);
  CHECK(flat.is_contiguous());
  CHECK(t.reshape({24}).numel() == 24);
  CHECK(t.slice(0, 1, 2).reshape({3, 4}).data_as<float>() == data.data() + 12);
  CHECK_THROWS_AS(t.reshape({5, 5}), alisa::InternalError);
  CHECK_THROWS_AS(t.slice(1, 0, 2).reshape({16}), alisa::InternalError);
}

TEST_CASE("allocate_tensor accounts used and peak bytes", "[device]") {
  CpuDevice device;
  CHECK(device.kind() == alisa::DeviceKind::kCpu);
  CHECK(device.name() == "cpu");
  CHECK(device.limit_bytes() == 0);
  CHECK(device.used_bytes() == 0);
  {
    OwnedTensor a = allocate_tensor(device, DType::kF32, {4, 8}, "a");
    CHECK(a.buffer.n_bytes() == 128);
    CHECK(a.tensor.data() == a.buffer.data());
    CHECK(a.tensor.device() == &device);
    CHECK(reinterpret_cast<uintptr_t>(a.buffer.data()) % 64 == 0);
    CHECK(device.used_bytes() == 128);
    {
      OwnedTensor b = allocate_tensor(device, DType::kF16, {3, 5}, "b");
      CHECK(b.tensor.n_bytes() == 30);
      CHECK(device.used_bytes() == 158);
      CHECK(device.peak_bytes() == 158);
    }
    CHECK(device.used_bytes() == 128);
    CHECK(device.peak_bytes() == 158);

    // Moving a buffer moves the ownership, not the accounting.
    Buffer moved = std::move(a.buffer);
    CHECK(a.buffer.empty());
    CHECK(device.used_bytes() == 128);
    Buffer other = device.allocate(10, "other");
    CHECK(device.used_bytes() == 138);
    other = std::move(moved);  // frees other's 10 bytes
    CHECK(device.used_bytes() == 128);
    CHECK(other.n_bytes() == 128);
  }
  CHECK(device.used_bytes() == 0);
  CHECK(device.peak_bytes() == 158);

  Buffer zero = device.allocate(0, "nothing");  // still a distinct, non-null buffer
  CHECK_FALSE(zero.empty());
  CHECK(device.used_bytes() == 1);
}

TEST_CASE("a device cap fails with the numbers and frees nothing it did not take", "[device]") {
  CpuDevice device(1024);
  OwnedTensor a = allocate_tensor(device, DType::kF32, {100}, "first");   // 400 B
  OwnedTensor b = allocate_tensor(device, DType::kF32, {156}, "second");  // 1024 B in all
  CHECK(device.used_bytes() == 1024);
  b = OwnedTensor{};
  CHECK(device.used_bytes() == 400);
  REQUIRE_THROWS_AS(allocate_tensor(device, DType::kF32, {2, 100}, "kv cache"), alisa::Error);
  REQUIRE_THROWS_WITH(allocate_tensor(device, DType::kF32, {2, 100}, "kv cache"),
                      Contains("cpu memory limit 1.00 KiB exceeded") && Contains("kv cache") &&
                          Contains("needs 800 B") && Contains("400 B already in use"));
  CHECK(device.used_bytes() == 400);
  CHECK(device.peak_bytes() == 1024);
  OwnedTensor c = allocate_tensor(device, DType::kF32, {156}, "fits again");
  CHECK(device.used_bytes() == 1024);
}

TEST_CASE("huge requests fail instead of wrapping around the cap or the rounding", "[device]") {
  CpuDevice capped(1024);
  Buffer some = capped.allocate(16, "some");
  REQUIRE_THROWS_AS(capped.allocate(SIZE_MAX - 8, "huge"), alisa::Error);
  REQUIRE_THROWS_WITH(capped.allocate(SIZE_MAX - 8, "huge"), Contains("memory limit"));
  REQUIRE_THROWS_AS(capped.allocate(SIZE_MAX, "huge"), alisa::Error);
  CHECK(capped.used_bytes() == 16);

  CpuDevice uncapped;
  REQUIRE_THROWS_AS(uncapped.allocate(SIZE_MAX, "huge"), alisa::Error);
  REQUIRE_THROWS_WITH(uncapped.allocate(SIZE_MAX - 3, "huge"),
                      Contains("out of cpu memory") && Contains("huge"));
  CHECK(uncapped.used_bytes() == 0);
}

TEST_CASE("format_bytes picks a unit", "[device]") {
  CHECK(alisa::format_bytes(0) == "0 B");
  CHECK(alisa::format_bytes(1023) == "1023 B");
  CHECK(alisa::format_bytes(1024) == "1.00 KiB");
  CHECK(alisa::format_bytes(1536ull * 1024 * 1024) == "1.50 GiB");
  CHECK(alisa::format_bytes(3ull << 40) == "3.00 TiB");
}

TEST_CASE("CpuOps::copy between strided views equals a scalar loop", "[tensor][copy]") {
  CpuDevice device;
  SECTION("new tokens into a slice of a [2, 10, 3, 4] cache along dim 1") {
    OwnedTensor cache = allocate_tensor(device, DType::kF32, {2, 10, 3, 4}, "cache");
    OwnedTensor tokens = allocate_tensor(device, DType::kF32, {2, 3, 3, 4}, "tokens");
    iota(cache.tensor, -1000.0f);
    iota(tokens.tensor, 1.0f);
    check_copy(tokens.tensor, cache.tensor, cache.tensor.slice(1, 5, 8));
    // One token (the decode step) at the end.
    OwnedTensor one = allocate_tensor(device, DType::kF32, {2, 1, 3, 4}, "one");
    iota(one.tensor, 500.0f);
    check_copy(one.tensor, cache.tensor, cache.tensor.slice(1, 9, 10));
  }
  SECTION("a strided slice out into a contiguous tensor") {
    OwnedTensor cache = allocate_tensor(device, DType::kF32, {2, 10, 3, 4}, "cache");
    OwnedTensor out = allocate_tensor(device, DType::kF32, {2, 4, 3, 4}, "out");
    iota(cache.tensor, 0.0f);
    iota(out.tensor, -1.0f);
    check_copy(cache.tensor.slice(1, 2, 6), out.tensor, out.tensor);
  }
  SECTION("strided to strided, with a different stride on each side") {
    OwnedTensor a = allocate_tensor(device, DType::kF32, {3, 7, 2, 5}, "a");
    OwnedTensor b = allocate_tensor(device, DType::kF32, {3, 12, 2, 5}, "b");
    iota(a.tensor, 0.0f);
    iota(b.tensor, 10000.0f);
    check_copy(a.tensor.slice(1, 1, 5).slice(0, 1, 3), b.tensor,
               b.tensor.slice(1, 6, 10).slice(0, 0, 2));
  }
  SECTION("a head slice (strided dim 2) and lower ranks") {
    OwnedTensor a = allocate_tensor(device, DType::kF32, {2, 3, 4, 6}, "a");
    OwnedTensor b = allocate_tensor(device, DType::kF32, {2, 3, 2, 6}, "b");
    iota(a.tensor, 0.0f);
    iota(b.tensor, -500.0f);
    check_copy(a.tensor.slice(2, 1, 3), b.tensor, b.tensor);

    OwnedTensor m = allocate_tensor(device, DType::kF32, {5, 9}, "m");
    OwnedTensor n = allocate_tensor(device, DType::kF32, {8, 9}, "n");
    iota(m.tensor, 0.0f);
    iota(n.tensor, 100.0f);
    check_copy(m.tensor.slice(0, 1, 4), n.tensor, n.tensor.slice(0, 4, 7));

    OwnedTensor r3 = allocate_tensor(device, DType::kF32, {4, 6, 3}, "r3");
    OwnedTensor s3 = allocate_tensor(device, DType::kF32, {4, 2, 3}, "s3");
    iota(r3.tensor, 0.0f);
    iota(s3.tensor, 77.0f);
    check_copy(s3.tensor, r3.tensor, r3.tensor.slice(1, 3, 5));

    OwnedTensor v = allocate_tensor(device, DType::kF32, {10}, "v");
    OwnedTensor w = allocate_tensor(device, DType::kF32, {4}, "w");
    iota(v.tensor, 0.0f);
    iota(w.tensor, 50.0f);
    check_copy(w.tensor, v.tensor, v.tensor.slice(0, 3, 7));
  }
  SECTION("half-precision bytes are copied as they are") {
    std::vector<uint16_t> src(2 * 3 * 4), dst(2 * 5 * 4, 0xffff);
    std::iota(src.begin(), src.end(), uint16_t{1});
    const Tensor s(src.data(), &device, DType::kF16, {2, 3, 4});
    const Tensor d(dst.data(), &device, DType::kF16, {2, 5, 4});
    alisa::CpuOps(1).copy(s, d.slice(1, 1, 4));
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t t = 0; t < 5; ++t)
        for (int64_t e = 0; e < 4; ++e) {
          const uint16_t expected =
              (t >= 1 && t < 4) ? src[static_cast<size_t>(b * 12 + (t - 1) * 4 + e)] : 0xffff;
          CHECK(dst[static_cast<size_t>(b * 20 + t * 4 + e)] == expected);
        }
  }
  SECTION("mismatched shapes or dtypes are refused") {
    OwnedTensor a = allocate_tensor(device, DType::kF32, {2, 3, 4}, "a");
    OwnedTensor b = allocate_tensor(device, DType::kF32, {2, 4, 4}, "b");
    OwnedTensor c = allocate_tensor(device, DType::kI32, {2, 3, 4}, "c");
    alisa::CpuOps ops(1);
    CHECK_THROWS_AS(ops.copy(a.tensor, b.tensor), alisa::InternalError);
    CHECK_THROWS_AS(ops.copy(a.tensor, c.tensor), alisa::InternalError);
  }
}
