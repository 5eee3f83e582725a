// GPU embedding, RMSNorm and LayerNorm against the double-accumulating references, in f16, bf16
// and f32.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels_gpu/embedding.cuh"
#include "kernels_gpu/layer_norm.cuh"
#include "kernels_gpu/rms_norm.cuh"
#include "tests/kernels_gpu/gpu_test_util.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

using test::DeviceBuffer;

}  // namespace

TEST_CASE("gpu embedding matches the reference", "[gpu][embedding]") {
  struct Case {
    int64_t n_tokens, vocab, dim;
    bool positions;
  };
  const Case cases[] = {{1, 5, 1, false},     {3, 17, 3, true},      {67, 130, 17, false},
                        {17, 257, 130, true}, {130, 1000, 64, true}, {257, 67, 256, false}};
  uint64_t seed = 100;
  for (DType dtype : test::kFloatDtypes) {
    for (const Case& c : cases) {
      const int64_t n_positions = 300;
      const std::vector<float> table = test::random_rounded(dtype, c.vocab * c.dim, seed++);
      const std::vector<float> pos_table = test::random_rounded(dtype, n_positions * c.dim, seed++);
      std::mt19937_64 rng(seed++);
      std::vector<int32_t> ids(c.n_tokens), pos_ids(c.n_tokens);
      for (int32_t& id : ids) id = static_cast<int32_t>(rng() % c.vocab);
      for (int32_t& id : pos_ids) id = static_cast<int32_t>(rng() % n_positions);
      DeviceBuffer table_d = test::upload(dtype, table),
                   pos_table_d = test::upload(dtype, pos_table);
      DeviceBuffer ids_d = test::upload_raw(ids), pos_ids_d = test::upload_raw(pos_ids);
      DeviceBuffer out_d = test::poisoned(dtype, c.n_tokens * c.dim);

      EmbeddingParams p;
      p.token_ids = ids_d.as<int32_t>();
      p.table = table_d.get();
      p.position_ids = c.positions ? pos_ids_d.as<int32_t>() : nullptr;
      p.position_table = c.positions ? pos_table_d.get() : nullptr;
      p.out = out_d.get();
      p.n_tokens = c.n_tokens;
      p.vocab_size = c.vocab;
      p.n_positions = n_positions;
      p.dim = c.dim;
      p.dtype = dtype;
      gpu::embedding(p, nullptr);
      const std::vector<float> out = test::download(dtype, out_d.get(), c.n_tokens * c.dim);

      EmbeddingParams r = p;
      r.token_ids = ids.data();
      r.table = table.data();
      r.position_ids = c.positions ? pos_ids.data() : nullptr;
      r.position_table = c.positions ? pos_table.data() : nullptr;
      r.dtype = DType::kF32;
      std::vector<double> expected(c.n_tokens * c.dim);
      reference::embedding(r, expected.data());
      // A plain lookup copies bits; with positions the float sum is rounded once to the dtype.
      const double rtol = !c.positions ? 0.0 : test::tolerance_for(dtype, 1e-7, 1e-3);
      test::check_close(out, expected, rtol, c.positions ? 1e-7 : 0.0,
                        str("embedding ", dtype_name(dtype), " n_tokens=", c.n_tokens,
                            " vocab=", c.vocab, " dim=", c.dim, " positions=", c.positions));
    }
  }
}

TEST_CASE("gpu embedding writes NaN rows for out-of-range ids", "[gpu][embedding]") {
  const int64_t vocab = 7, dim = 16;
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    const std::vector<float> table = test::random_rounded(dtype, vocab * dim, 5);
    const std::vector<int32_t> ids = {1, static_cast<int32_t>(vocab), -1, 6};
    DeviceBuffer table_d = test::upload(dtype, table), ids_d = test::upload_raw(ids);
    DeviceBuffer out_d = test::upload(dtype, std::vector<float>(ids.size() * dim, 0.0f));
    EmbeddingParams p;
    p.token_ids = ids_d.as<int32_t>();
    p.table = table_d.get();
    p.out = out_d.get();
    p.n_tokens = static_cast<int64_t>(ids.size());
    p.vocab_size = vocab;
    p.dim = dim;
    p.dtype = dtype;
    gpu::embedding(p, nullptr);
    const std::vector<float> out = test::download(dtype, out_d.get(), ids.size() * dim);
    INFO(dtype_name(dtype));
    for (int64_t d = 0; d < dim; ++d) {
      CHECK(out[0 * dim + d] == table[1 * dim + d]);
      CHECK(std::isnan(out[1 * dim + d]));
      CHECK(std::isnan(out[2 * dim + d]));
      CHECK(out[3 * dim + d] == table[6 * dim + d]);
    }
  }
}

TEST_CASE("gpu rms_norm and layer_norm match the reference", "[gpu][norm]") {
  struct Case {
    int64_t n_rows, dim;
    bool residual;    // fused residual add
    bool in_place;    // out aliases x, residual_out aliases residual
    bool misaligned;  // every pointer one element off 16 bytes: the scalar path
  };
  const Case cases[] = {{1, 1, false, false, false},    {3, 3, true, false, false},
                        {17, 17, true, true, false},    {67, 67, false, false, false},
                        {3, 130, true, false, false},   {5, 257, true, true, false},
                        {130, 256, false, true, false}, {17, 4096, true, false, false},
                        {3, 64, true, true, true},      {2, 16384, true, false, false}};
  enum class Kind { kRms, kLayer, kLayerNoBias };
  uint64_t seed = 200;
  for (DType dtype : test::kFloatDtypes) {
    for (Kind kind : {Kind::kRms, Kind::kLayer, Kind::kLayerNoBias}) {
      for (const Case& c : cases) {
        const size_t n = static_cast<size_t>(c.n_rows * c.dim);
        const size_t off = c.misaligned ? 1 : 0;
        const std::vector<float> x = test::random_rounded(dtype, n, seed++, -2.0f, 2.0f);
        const std::vector<float> res = test::random_rounded(dtype, n, seed++, -2.0f, 2.0f);
        const std::vector<float> w = test::random_rounded(dtype, c.dim, seed++, 0.5f, 1.5f);
        const std::vector<float> b = test::random_rounded(dtype, c.dim, seed++, -0.5f, 0.5f);
        const bool has_bias = kind == Kind::kLayer;
        // Slack for the misaligned views; every buffer starts NaN-poisoned.
        DeviceBuffer x_d = test::poisoned(dtype, n + 8), res_d = test::poisoned(dtype, n + 8);
        DeviceBuffer w_d = test::poisoned(dtype, c.dim + 8), b_d = test::poisoned(dtype, c.dim + 8);
        DeviceBuffer out_d = test::poisoned(dtype, n + 8), rout_d = test::poisoned(dtype, n + 8);
        void* x_p = test::advance(x_d.get(), dtype, off);
        void* res_p = test::advance(res_d.get(), dtype, off);
        void* w_p = test::advance(w_d.get(), dtype, off);
        void* b_p = test::advance(b_d.get(), dtype, off);
        test::copy_to_device(dtype, x_p, x);
        test::copy_to_device(dtype, res_p, res);
        test::copy_to_device(dtype, w_p, w);
        test::copy_to_device(dtype, b_p, b);
        void* out_p = c.in_place ? x_p : test::advance(out_d.get(), dtype, off);
        void* rout_p = c.in_place ? res_p : test::advance(rout_d.get(), dtype, off);

        NormParams p;
        p.x = x_p;
        p.residual = c.residual ? res_p : nullptr;
        p.residual_out = c.residual ? rout_p : nullptr;
        p.weight = w_p;
        p.bias = has_bias ? b_p : nullptr;
        p.out = out_p;
        p.n_rows = c.n_rows;
        p.dim = c.dim;
        p.eps = 1e-5f;
        p.dtype = dtype;
        if (kind == Kind::kRms) {
          gpu::rms_norm(p, nullptr);
        } else {
          gpu::layer_norm(p, nullptr);
        }
        const std::vector<float> out = test::download(dtype, out_p, n);

        NormParams r = p;
        r.x = x.data();
        r.residual = c.residual ? res.data() : nullptr;
        r.residual_out = nullptr;
        r.weight = w.data();
        r.bias = has_bias ? b.data() : nullptr;
        r.out = nullptr;
        r.dtype = DType::kF32;
        std::vector<double> expected(n), expected_sum(n);
        if (kind == Kind::kRms) {
          reference::rms_norm(r, expected.data(), expected_sum.data());
        } else {
          reference::layer_norm(r, expected.data(), expected_sum.data());
        }
        const std::string what =
            str(kind == Kind::kRms ? "rms_norm " : "layer_norm ", dtype_name(dtype),
                has_bias ? " bias" : "", " rows=", c.n_rows, " dim=", c.dim,
                " residual=", c.residual, " in_place=", c.in_place, " misaligned=", c.misaligned);
        // 16-bit: the output is rounded once (2^-11 relative in f16); float statistics add ~1e-6.
        test::check_close(out, expected, test::tolerance_for(dtype, 1e-5, 2e-3),
                          test::tolerance_for(dtype, 1e-5, 2e-3), what);
        if (c.residual) {
          const std::vector<float> sum = test::download(dtype, rout_p, n);
          // x + residual is exact in float, then rounded once to the dtype.
          test::check_close(sum, expected_sum, test::tolerance_for(dtype, 1e-7, 1e-3), 1e-7,
                            what + " residual_out");
        }
        if (c.misaligned) {  // nothing written before the view
          const std::vector<float> head =
              test::download(dtype, c.in_place ? x_d.get() : out_d.get(), 1);
          CHECK(std::isnan(head[0]));
        }
      }
    }
  }
}

}  // namespace alisa
