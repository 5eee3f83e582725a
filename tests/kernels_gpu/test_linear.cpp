// GPU linear (cuBLASLt, and the cublasGemmEx fallback) against the double-accumulating reference,
// in f16, bf16 and f32; the bias added by cuBLASLt's epilogue or, where that is not taken (a
// misaligned bias, the fallback), by the bias kernel.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "kernels_gpu/linear.cuh"
#include "tests/kernels_gpu/gpu_test_util.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

using test::DeviceBuffer;

struct Case {
  int64_t m, n, k;
  int64_t x_extra;  // x_row_stride = k + x_extra (0: x_row_stride left 0)
  int bias;         // 0: none, 1: aligned, 2: one element off 16 bytes
};

void run_case(gpu::LinearGpu& linear, DType dtype, const Case& c, uint64_t seed,
              const std::string& path) {
  const int64_t ldx = c.k + c.x_extra;
  const std::vector<float> x = test::random_rounded(dtype, c.m * ldx, seed, -1.0f, 1.0f);
  const std::vector<float> w = test::random_rounded(dtype, c.n * c.k, seed + 1, -1.0f, 1.0f);
  const std::vector<float> b = test::random_rounded(dtype, c.n, seed + 2, -1.0f, 1.0f);
  DeviceBuffer x_d = test::upload(dtype, x), w_d = test::upload(dtype, w);
  DeviceBuffer b_d = test::poisoned(dtype, c.n + 1), y_d = test::poisoned(dtype, c.m * c.n);
  void* b_p = test::advance(b_d.get(), dtype, c.bias == 2 ? 1 : 0);
  test::copy_to_device(dtype, b_p, b);

  LinearParams p;
  p.x = x_d.get();
  p.weight = w_d.get();
  p.bias = c.bias != 0 ? b_p : nullptr;
  p.y = y_d.get();
  p.m = c.m;
  p.n = c.n;
  p.k = c.k;
  p.x_row_stride = c.x_extra == 0 ? 0 : ldx;
  p.dtype = dtype;
  p.weight_dtype = dtype;
  linear.run(p, nullptr);
  const std::vector<float> y = test::download(dtype, y_d.get(), c.m * c.n);

  LinearParams r = p;
  r.x = x.data();
  r.weight = w.data();
  r.bias = c.bias != 0 ? b.data() : nullptr;
  r.y = nullptr;
  r.dtype = DType::kF32;
  r.weight_dtype = DType::kF32;
  std::vector<double> expected(c.m * c.n);
  reference::linear(r, expected.data());
  // 16-bit: float accumulation, then one rounding of y (two when the bias is added by a separate
  // kernel): 2^-10 relative in f16; |y| ~ sqrt(k) / 3. f32: float accumulation over k terms.
  const double scale = std::sqrt(static_cast<double>(c.k));
  test::check_close(y, expected, test::tolerance_for(dtype, 1e-5, 2e-3),
                    test::tolerance_for(dtype, 1e-5, 1e-3) * scale,
                    str("linear ", path, " ", dtype_name(dtype), " m=", c.m, " n=", c.n, " k=", c.k,
                        " ldx=", ldx, " bias=", c.bias));
}

}  // namespace

TEST_CASE("gpu linear matches the reference", "[gpu][linear]") {
  const Case cases[] = {{1, 1, 1, 0, 1},       {3, 17, 67, 0, 0},      {17, 130, 257, 0, 1},
                        {67, 257, 130, 5, 2},  {130, 3, 17, 0, 1},     {257, 67, 3, 1, 0},
                        {1, 4096, 4096, 0, 1}, {4, 1024, 512, 512, 1}, {300, 520, 264, 8, 2}};
  uint64_t seed = 600;
  for (const bool use_lt : {true, false}) {
    gpu::LinearGpu linear(gpu::LinearGpu::kDefaultWorkspaceBytes, use_lt);
    for (DType dtype : test::kFloatDtypes) {
      for (const Case& c : cases) {
        run_case(linear, dtype, c, seed, use_lt ? "lt" : "gemm_ex");
        seed += 3;
      }
      // A cached plan is reused for the same shape: run the first cases again.
      run_case(linear, dtype, cases[2], seed, use_lt ? "lt (cached)" : "gemm_ex (cached)");
      seed += 3;
    }
  }
}

TEST_CASE("gpu linear rejects bad params", "[gpu][linear]") {
  gpu::LinearGpu linear;
  LinearParams p;
  p.m = 2;
  p.n = 3;
  p.k = 4;
  p.dtype = DType::kF16;
  p.weight_dtype = DType::kF16;
  CHECK_THROWS_AS(linear.run(p, nullptr), InternalError);  // null pointers
  DeviceBuffer buf(1024);
  p.x = buf.get();
  p.weight = buf.get();
  p.y = buf.get();
  p.x_row_stride = 3;  // < k
  CHECK_THROWS_AS(linear.run(p, nullptr), InternalError);
  p.x_row_stride = 0;
  p.weight_dtype = DType::kF32;
  CHECK_THROWS_AS(linear.run(p, nullptr), InternalError);
}

}  // namespace alisa
