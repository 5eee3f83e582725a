// GPU prefill and split-K decode attention against the double-accumulating reference: causal
// with q_start, left padding (a fully padded row too), grouped-query heads, strided views, and
// K/V poisoned with NaN wherever no query may look.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels_gpu/attention_decode.cuh"
#include "kernels_gpu/attention_prefill.cuh"
#include "kernels_gpu/cuda_check.cuh"
#include "tests/kernels_gpu/gpu_test_util.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

using test::DeviceBuffer;

struct AttnCase {
  int64_t batch, n_q, n_kv, q_start, n_heads, n_kv_heads, head_dim;
  std::vector<int64_t> pad = {};  // left padding per batch entry (empty: none)
  int64_t q_extra = 0;            // extra elements per q / out token
  int64_t kv_extra = 0;           // extra elements per cached token
  int64_t capacity = 0;           // cached tokens per batch entry (0: n_kv)
  bool null_mask = false;
  float scale = 0.0f;  // 0: 1 / sqrt(head_dim)
};

std::string describe(const AttnCase& c) {
  return str("batch=", c.batch, " n_q=", c.n_q, " n_kv=", c.n_kv, " q_start=", c.q_start,
             " heads=", c.n_heads, "/", c.n_kv_heads, " head_dim=", c.head_dim,
             " q_extra=", c.q_extra, " kv_extra=", c.kv_extra, " capacity=", c.capacity,
             " null_mask=", c.null_mask, " scale=", c.scale);
}

// Host inputs (rounded to the dtype), their device copies and the params over both.
struct AttnProblem {
  AttentionParams host, device;
  std::vector<float> q, k, v;
  std::vector<uint8_t> mask;
  DeviceBuffer q_d, k_d, v_d, mask_d, out_d;
  size_t out_elems = 0;
};

void build(const AttnCase& c, DType dtype, uint64_t seed, AttnProblem& pr) {
  const int64_t capacity = c.capacity != 0 ? c.capacity : c.n_kv;
  const int64_t q_tok = c.n_heads * c.head_dim + c.q_extra;
  const int64_t kv_tok = c.n_kv_heads * c.head_dim + c.kv_extra;
  const size_t q_elems = static_cast<size_t>(c.batch * c.n_q * q_tok);
  const size_t kv_elems = static_cast<size_t>(c.batch * capacity * kv_tok);
  pr.q = test::random_rounded(dtype, q_elems, seed);
  pr.k = test::random_rounded(dtype, kv_elems, seed + 1);
  pr.v = test::random_rounded(dtype, kv_elems, seed + 2);
  pr.mask.assign(static_cast<size_t>(c.batch * capacity), 0);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const int64_t last_visible = std::min(c.n_kv, c.q_start + c.n_q);  // exclusive
  for (int64_t b = 0; b < c.batch; ++b) {
    const int64_t pad = c.pad.empty() ? 0 : c.pad[b];
    for (int64_t j = 0; j < capacity; ++j) {
      const bool real = j >= pad && j < c.n_kv;
      pr.mask[b * capacity + j] = real ? 1 : 0;
      if (real && j < last_visible) continue;
      for (int64_t e = 0; e < kv_tok; ++e) {  // never looked at: poison
        pr.k[(b * capacity + j) * kv_tok + e] = nan;
        pr.v[(b * capacity + j) * kv_tok + e] = nan;
      }
    }
  }
  pr.q_d = test::upload(dtype, pr.q);
  pr.k_d = test::upload(dtype, pr.k);
  pr.v_d = test::upload(dtype, pr.v);
  pr.mask_d = test::upload_raw(pr.mask);
  pr.out_elems = q_elems;
  pr.out_d = test::poisoned(dtype, q_elems);

  AttentionParams& p = pr.device;
  p.q = pr.q_d.get();
  p.k = pr.k_d.get();
  p.v = pr.v_d.get();
  p.key_mask = c.null_mask ? nullptr : pr.mask_d.as<uint8_t>();
  p.out = pr.out_d.get();
  p.batch = c.batch;
  p.n_q = c.n_q;
  p.n_kv_tokens = c.n_kv;
  p.n_heads = c.n_heads;
  p.n_kv_heads = c.n_kv_heads;
  p.head_dim = c.head_dim;
  p.q_start = c.q_start;
  p.q_token_stride = q_tok;
  p.q_batch_stride = c.n_q * q_tok;
  p.kv_token_stride = kv_tok;
  p.kv_batch_stride = capacity * kv_tok;
  p.out_token_stride = q_tok;
  p.out_batch_stride = c.n_q * q_tok;
  p.mask_batch_stride = capacity;
  p.scale = c.scale != 0.0f ? c.scale : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  p.dtype = dtype;
  p.kv_dtype = dtype;

  pr.host = p;
  pr.host.q = pr.q.data();
  pr.host.k = pr.k.data();
  pr.host.v = pr.v.data();
  pr.host.key_mask = pr.mask.data();  // the reference needs one; all real tokens are 1
  pr.host.out = nullptr;
  pr.host.dtype = DType::kF32;
  pr.host.kv_dtype = DType::kF32;
}

// Downloads the strided output, compares it with the reference and checks the gaps between
// strided rows were left alone.
void check_output(const AttnCase& c, DType dtype, AttnProblem& pr, const std::string& kernel) {
  const std::vector<float> all = test::download(dtype, pr.out_d.get(), pr.out_elems);
  const int64_t row = c.n_heads * c.head_dim, q_tok = row + c.q_extra;
  std::vector<float> out(static_cast<size_t>(c.batch * c.n_q * row));
  bool gaps_untouched = true;
  for (int64_t t = 0; t < c.batch * c.n_q; ++t) {
    for (int64_t e = 0; e < q_tok; ++e) {
      if (e < row) {
        out[t * row + e] = all[t * q_tok + e];
      } else if (!std::isnan(all[t * q_tok + e])) {
        gaps_untouched = false;
      }
    }
  }
  std::vector<double> expected(out.size());
  reference::attention(pr.host, expected.data());
  const std::string what = str(kernel, " ", dtype_name(dtype), " ", describe(c));
  INFO(what);
  CHECK(gaps_untouched);
  // 16-bit: probabilities enter P V rounded to the dtype (prefill) and the output is rounded
  // once: ~2^-11 of max|v| = 1 in f16. f32: float softmax and accumulation.
  test::check_close(out, expected, test::tolerance_for(dtype, 1e-4, 2e-3),
                    test::tolerance_for(dtype, 2e-5, 2e-3), what);
}

}  // namespace

TEST_CASE("gpu attention_prefill matches the reference", "[gpu][attention]") {
  const std::vector<AttnCase> cases = {
      {2, 17, 17, 0, 4, 4, 64},
      {3, 67, 67, 0, 8, 2, 128, {0, 5, 67}},          // GQA 4; the last row fully padded
      {1, 130, 257, 127, 6, 3, 80, {}, 48, 16, 300},  // chunked prefill, strided, head_dim 80
      {2, 3, 40, 37, 2, 1, 17, {3, 0}},               // odd head_dim: scalar loads
      {1, 257, 257, 0, 2, 2, 128, {}, 0, 0, 0, false, 1.0f},  // peaky scores
      {2, 1, 130, 129, 4, 1, 64, {1, 129}},
      {1, 1, 1, 0, 1, 1, 1},
      {2, 33, 50, 17, 4, 2, 32, {}, 0, 0, 0, true},  // no mask
      {2, 20, 300, 10, 3, 3, 96, {0, 4}},            // cache longer than the queries reach
      {1, 64, 64, 0, 2, 2, 16, {63}},                // only the last key is real
  };
  uint64_t seed = 700;
  // f16 and bf16 take the tensor-core path at head_dim 64 and 128 (rows 16-byte aligned), the
  // WMMA one at the other head_dims.
  for (DType dtype : test::kFloatDtypes) {
    for (const AttnCase& c : cases) {
      AttnProblem pr;
      build(c, dtype, seed, pr);
      seed += 3;
      gpu::attention_prefill(pr.device, nullptr);
      check_output(c, dtype, pr, "attention_prefill");
    }
  }
}

TEST_CASE("gpu attention_decode matches the reference", "[gpu][attention]") {
  const std::vector<AttnCase> cases = {
      {1, 1, 4000, 3999, 32, 8, 128},
      {3, 1, 1000, 999, 4, 4, 64, {0, 300, 1000}},         // the last row fully padded
      {2, 2, 4096, 4094, 8, 2, 128, {0, 17}, 0, 8, 4200},  // 8 rows per kv head, strided cache
      {2, 3, 517, 514, 8, 2, 80, {5, 0}, 16},              // 12 rows: two row chunks
      {4, 1, 67, 66, 2, 1, 17, {0, 1, 2, 66}},             // odd head_dim: scalar loads
      {1, 1, 3, 2, 1, 1, 1},
      {2, 1, 2000, 1500, 4, 2, 128, {0, 1499}},  // cache longer than the query reaches
      {1, 1, 4000, 3999, 4, 4, 64, {}, 0, 0, 0, false, 1.0f},  // peaky scores
      {2, 1, 257, 256, 4, 4, 64, {}, 0, 0, 0, true},           // no mask
      {64, 1, 130, 129, 8, 8, 128, {}},
  };
  uint64_t seed = 800;
  // f16 and bf16 take the 16-bit split kernel where head_dim % 8 == 0, the generic one at 17 and 1.
  for (DType dtype : test::kFloatDtypes) {
    for (const AttnCase& c : cases) {
      AttnProblem pr;
      build(c, dtype, seed, pr);
      seed += 3;
      const size_t bytes = gpu::attention_decode_workspace_bytes(pr.device);
      CHECK(bytes <=
            gpu::attention_decode_max_workspace_bytes(c.batch, c.n_q, c.n_heads, c.head_dim));
      if (c.n_kv >= 4000) CHECK(gpu::attention_decode_num_splits(pr.device) > 1);
      DeviceBuffer workspace(bytes);
      ALISA_CUDA_CHECK(cudaMemset(workspace.get(), 0xff, bytes));  // NaN partials if unwritten
      gpu::attention_decode(pr.device, workspace.get(), bytes, nullptr);
      check_output(c, dtype, pr, "attention_decode");
    }
  }
}

TEST_CASE("gpu attention launchers reject bad params", "[gpu][attention]") {
  AttnProblem pr;
  build({1, 1, 8, 7, 4, 2, 64}, DType::kF16, 900, pr);
  const size_t bytes = gpu::attention_decode_workspace_bytes(pr.device);
  DeviceBuffer workspace(bytes);
  CHECK_THROWS_AS(gpu::attention_decode(pr.device, workspace.get(), bytes - 4, nullptr),
                  InternalError);
  AttentionParams p = pr.device;
  p.head_dim = 256;
  CHECK_THROWS_AS(gpu::attention_prefill(p, nullptr), InternalError);
  p = pr.device;
  p.n_kv_heads = 3;  // 4 heads do not group into 3
  CHECK_THROWS_AS(gpu::attention_prefill(p, nullptr), InternalError);
  p = pr.device;
  p.kv_dtype = DType::kF32;
  CHECK_THROWS_AS(gpu::attention_decode(p, workspace.get(), bytes, nullptr), InternalError);
}

}  // namespace alisa
