// GPU Sparse Window Attention kernels against the CPU reference (kernels_cpu/swa_cpu): the same
// token sets (ties included), attention and weights within float tolerance (K/V in device memory
// and in mapped pinned host memory, with recomputed rows below recomputed_below), score updates of
// every mode with ring rows dropped and written, the prefill's initial score with padding, in
// window and history modes, and the kept hidden states' gather (bitwise).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels_cpu/swa_cpu.h"
#include "kernels_gpu/cuda_check.cuh"
#include "kernels_gpu/sparse_attention.cuh"
#include "kernels_gpu/swa_gather_hidden.cuh"
#include "kernels_gpu/swa_prefill_score.cuh"
#include "kernels_gpu/swa_select.cuh"
#include "kernels_gpu/swa_update_score.cuh"
#include "tests/kernels_gpu/gpu_test_util.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

using test::DeviceBuffer;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Pinned host memory mapped into the device's address space (zero-copy), freed on destruction.
class MappedBuffer {
 public:
  explicit MappedBuffer(size_t bytes) {
    ALISA_CUDA_CHECK(cudaHostAlloc(&host_, bytes == 0 ? 1 : bytes, cudaHostAllocMapped));
    ALISA_CUDA_CHECK(cudaHostGetDevicePointer(&device_, host_, 0));
  }
  ~MappedBuffer() { cudaFreeHost(host_); }
  MappedBuffer(const MappedBuffer&) = delete;
  MappedBuffer& operator=(const MappedBuffer&) = delete;
  void* host() const { return host_; }
  void* device() const { return device_; }

 private:
  void* host_ = nullptr;
  void* device_ = nullptr;
};

std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// `count` distinct indices of [begin, end), ascending.
std::vector<int32_t> random_subset(std::mt19937_64& rng, int32_t begin, int32_t end,
                                   int32_t count) {
  std::vector<int32_t> all(static_cast<size_t>(end - begin));
  std::iota(all.begin(), all.end(), begin);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<size_t>(count));
  std::sort(all.begin(), all.end());
  return all;
}

SwaSequence sequence(int32_t first, int32_t n, int32_t local, int32_t total) {
  SwaSequence s;
  s.first = first;
  s.n = n;
  s.local = local;
  s.total = total;
  return s;
}

std::string describe(const SwaSequence& s) {
  return str("{first ", s.first, ", n ", s.n, ", local ", s.local, ", total ", s.total, ", write ",
             s.write_row, ", drop ", s.drop_row, ", prefill_rows ", s.prefill_rows, "}");
}

// ---- selection -----------------------------------------------------------------------------

enum class ScoreKind { kDistinct, kTies, kSigned };

std::vector<float> select_scores(ScoreKind kind, size_t n, uint64_t seed) {
  std::vector<float> s(n);
  if (kind == ScoreKind::kDistinct) {  // a permutation of distinct values
    std::vector<int> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937_64 rng(seed);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (size_t i = 0; i < n; ++i) s[i] = 0.001f * static_cast<float>(perm[i]) + 0.5f;
  } else {
    const std::vector<float> r = test::random_floats(n, seed, 0.0f, 1.0f);
    for (size_t i = 0; i < n; ++i) {
      if (kind == ScoreKind::kTies) {  // few levels: many exact ties
        s[i] = std::floor(r[i] * 4.0f) * 0.25f;
      } else {  // float drift around zero: both zeros, tiny negatives and denormals
        const float v = (r[i] - 0.5f) * 1e-3f;
        s[i] = i % 7 == 0 ? -0.0f : i % 11 == 0 ? 0.0f : i % 13 == 0 ? -1e-40f : v;
      }
    }
  }
  return s;
}

}  // namespace

TEST_CASE("gpu swa_select picks the CPU's token sets", "[gpu][swa]") {
  constexpr int64_t kCapacity = 4200, kMaxSelected = 1024;
  const std::vector<SwaSequence> seqs = {
      sequence(0, 700, 100, 250),   // 150 of 600 candidates
      sequence(37, 500, 64, 128),   // left padding
      sequence(5, 40, 40, 40),      // dense
      sequence(0, 300, 50, 50),     // no global part (recent window)
      sequence(3, 20, 10, 20),      // every candidate
      sequence(0, 4100, 300, 800),  // several compaction tiles
      sequence(11, 1, 1, 1),        // one token
      sequence(100, 3000, 17, 18),  // a single global pick
      sequence(9, 2049, 1, 1000),   // half of the candidates
  };
  const int64_t batch = static_cast<int64_t>(seqs.size());
  uint64_t seed = 1000;
  for (const int64_t groups : {int64_t{1}, int64_t{4}}) {
    for (const ScoreKind kind : {ScoreKind::kDistinct, ScoreKind::kTies, ScoreKind::kSigned}) {
      const std::vector<float> score =
          select_scores(kind, static_cast<size_t>(batch * groups * kCapacity), seed++);
      const size_t n_sel = static_cast<size_t>(batch * groups * kMaxSelected);
      std::vector<int32_t> expected(n_sel, -7);
      SwaSelectParams p{.score = score.data(),
                        .sequences = seqs.data(),
                        .selected = expected.data(),
                        .batch = batch,
                        .groups = groups,
                        .capacity = kCapacity,
                        .max_selected = kMaxSelected};
      swa_select_cpu(p);
      const DeviceBuffer score_d = test::upload_raw(score);
      const DeviceBuffer seq_d = test::upload_raw(seqs);
      const DeviceBuffer sel_d = test::upload_raw(std::vector<int32_t>(n_sel, -7));
      p.score = score_d.as<float>();
      p.sequences = seq_d.as<SwaSequence>();
      p.selected = sel_d.as<int32_t>();
      gpu::swa_select(p, nullptr);
      const std::vector<int32_t> actual = test::download_raw<int32_t>(sel_d.get(), n_sel);
      for (int64_t row = 0; row < batch * groups; ++row) {
        const SwaSequence& s = seqs[static_cast<size_t>(row / groups)];
        const auto begin = static_cast<size_t>(row * kMaxSelected);
        const std::vector<int32_t> got(actual.begin() + begin,
                                       actual.begin() + begin + kMaxSelected);
        const std::vector<int32_t> want(expected.begin() + begin,
                                        expected.begin() + begin + kMaxSelected);
        INFO("groups " << groups << ", scores " << static_cast<int>(kind) << ", row " << row << " "
                       << describe(s));
        CHECK(got == want);  // the set, ascending, and the untouched tail (-7)
        CHECK(std::is_sorted(got.begin(), got.begin() + s.total));
      }
    }
  }
}

namespace {

// ---- sparse attention ------------------------------------------------------------------------

struct AttnShape {
  int64_t head_dim;
  int64_t groups;  // 1 or n_heads
  int64_t kv_extra;
};

struct AttnResult {
  std::vector<float> out, probs;
};

}  // namespace

TEST_CASE("gpu sparse_attention matches the CPU reference", "[gpu][swa]") {
  constexpr int64_t kHeads = 8, kKvHeads = 2, kCapacity = 300, kMaxSelected = 256;
  const std::vector<SwaSequence> seqs = {
      sequence(0, 300, 40, 200),
      sequence(20, 100, 1, 1),  // one token
      sequence(0, 50, 0, 0),    // nothing selected: zeros
      sequence(7, 250, 30, 77),
  };
  const int64_t batch = static_cast<int64_t>(seqs.size());
  const std::vector<AttnShape> shapes = {
      {128, 1, 0}, {128, kHeads, 8}, {80, 1, 4}, {17, kHeads, 0}, {64, kHeads, 0}};
  uint64_t seed = 2000;
  for (const AttnShape& shape : shapes) {
    for (const DType dtype : test::kFloatDtypes) {
      for (const DType kv_dtype : test::kFloatDtypes) {
        const int64_t d = shape.head_dim, groups = shape.groups;
        const int64_t q_row = kHeads * d, kv_token = kKvHeads * d + shape.kv_extra;
        const size_t kv_elems = static_cast<size_t>(batch * kCapacity * kv_token);
        const std::vector<float> q =
            test::random_rounded(dtype, static_cast<size_t>(batch * q_row), seed++);
        const std::vector<float> k = test::random_rounded(kv_dtype, kv_elems, seed++, -2.0f, 2.0f);
        const std::vector<float> v = test::random_rounded(kv_dtype, kv_elems, seed++);
        std::mt19937_64 rng(seed++);
        std::vector<int32_t> selected(static_cast<size_t>(batch * groups * kMaxSelected), -1);
        for (int64_t b = 0; b < batch; ++b) {
          const SwaSequence& s = seqs[static_cast<size_t>(b)];
          for (int64_t g = 0; g < groups; ++g) {
            const std::vector<int32_t> set = random_subset(rng, s.first, s.first + s.n, s.total);
            std::copy(set.begin(), set.end(),
                      selected.begin() + static_cast<ptrdiff_t>((b * groups + g) * kMaxSelected));
          }
        }
        const size_t n_probs = static_cast<size_t>(batch * kHeads * kMaxSelected);
        const size_t n_out = static_cast<size_t>(batch * q_row);

        // The reference, in float32 over the same (rounded) values.
        std::vector<float> out_ref(n_out, kNaN), probs_ref(n_probs, kNaN);
        SparseAttentionParams p{.q = q.data(),
                                .k = k.data(),
                                .v = v.data(),
                                .selected = selected.data(),
                                .sequences = seqs.data(),
                                .out = out_ref.data(),
                                .probs = probs_ref.data(),
                                .batch = batch,
                                .n_heads = kHeads,
                                .n_kv_heads = kKvHeads,
                                .head_dim = d,
                                .groups = groups,
                                .capacity = kCapacity,
                                .max_selected = kMaxSelected,
                                .q_batch_stride = q_row,
                                .out_batch_stride = q_row,
                                .kv_batch_stride = kCapacity * kv_token,
                                .kv_token_stride = kv_token,
                                .scale = 1.0f / std::sqrt(static_cast<float>(d)),
                                .dtype = DType::kF32,
                                .kv_dtype = DType::kF32};
        sparse_attention_cpu(p);

        const DeviceBuffer q_d = test::upload(dtype, q);
        const DeviceBuffer k_d = test::upload(kv_dtype, k), v_d = test::upload(kv_dtype, v);
        const DeviceBuffer sel_d = test::upload_raw(selected);
        const DeviceBuffer seq_d = test::upload_raw(seqs);
        MappedBuffer k_host(kv_elems * dtype_size(kv_dtype)),
            v_host(kv_elems * dtype_size(kv_dtype));
        test::encode(kv_dtype, k, k_host.host());
        test::encode(kv_dtype, v, v_host.host());
        p.q = q_d.get();
        p.selected = sel_d.as<int32_t>();
        p.sequences = seq_d.as<SwaSequence>();
        p.dtype = dtype;
        p.kv_dtype = kv_dtype;
        auto run = [&](const void* k_ptr, const void* v_ptr) {
          const DeviceBuffer out_d = test::poisoned(dtype, n_out);
          const DeviceBuffer probs_d = test::poisoned(DType::kF32, n_probs);
          SparseAttentionParams pd = p;
          pd.k = k_ptr;
          pd.v = v_ptr;
          pd.out = out_d.get();
          pd.probs = probs_d.as<float>();
          gpu::sparse_attention(pd, nullptr);
          return AttnResult{.out = test::download(dtype, out_d.get(), n_out),
                            .probs = test::download(DType::kF32, probs_d.get(), n_probs)};
        };
        const AttnResult dev = run(k_d.get(), v_d.get());
        const AttnResult mapped = run(k_host.device(), v_host.device());

        const std::string what =
            str("sparse attention head_dim ", d, " groups ", groups, " kv_extra ", shape.kv_extra,
                " q ", dtype_name(dtype), " kv ", dtype_name(kv_dtype));
        INFO(what);
        // 16-bit out: rounded once; the rest is float math on the same (rounded) values.
        test::check_close(dev.out, to_double(out_ref), test::tolerance_for(dtype, 1e-4, 2e-3),
                          test::tolerance_for(dtype, 1e-5, 2e-3), what + " out");
        // Weights of the selected tokens; the rest of each probs row is left alone.
        std::vector<float> probs_got, probs_want;
        bool tail_untouched = true;
        for (int64_t b = 0; b < batch; ++b) {
          for (int64_t h = 0; h < kHeads; ++h) {
            const int64_t total = seqs[static_cast<size_t>(b)].total;
            for (int64_t j = 0; j < kMaxSelected; ++j) {
              const size_t at = static_cast<size_t>((b * kHeads + h) * kMaxSelected + j);
              if (j < total) {
                probs_got.push_back(dev.probs[at]);
                probs_want.push_back(probs_ref[at]);
              } else if (!std::isnan(dev.probs[at])) {
                tail_untouched = false;
              }
            }
          }
        }
        test::check_close(probs_got, to_double(probs_want), 0.0, 1e-3, what + " probs");
        CHECK(tail_untouched);
        // Zero-copy K/V over the bus: the same kernel on the same values, the same bits.
        CHECK(std::memcmp(mapped.out.data(), dev.out.data(), n_out * sizeof(float)) == 0);
        CHECK(std::memcmp(mapped.probs.data(), dev.probs.data(), n_probs * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("gpu sparse_attention rejects bad params", "[gpu][swa]") {
  SparseAttentionParams p{.q = reinterpret_cast<const void*>(16),
                          .k = reinterpret_cast<const void*>(16),
                          .v = reinterpret_cast<const void*>(16),
                          .selected = reinterpret_cast<const int32_t*>(16),
                          .sequences = reinterpret_cast<const SwaSequence*>(16),
                          .out = reinterpret_cast<void*>(16),
                          .probs = reinterpret_cast<float*>(16),
                          .batch = 1,
                          .n_heads = 4,
                          .n_kv_heads = 2,
                          .head_dim = 512,  // beyond the kernel's 256
                          .groups = 1,
                          .capacity = 8,
                          .max_selected = 8,
                          .kv_batch_stride = 8 * 1024,
                          .kv_token_stride = 1024};
  CHECK_THROWS_AS(gpu::sparse_attention(p, nullptr), InternalError);
  p.head_dim = 64;
  p.kv_token_stride = 128;
  p.groups = 2;  // neither 1 nor n_heads
  CHECK_THROWS_AS(gpu::sparse_attention(p, nullptr), InternalError);
  p.groups = 1;
  p.n_kv_heads = 3;
  CHECK_THROWS_AS(gpu::sparse_attention(p, nullptr), InternalError);
}

TEST_CASE("gpu sparse_attention reads recomputed K/V rows below recomputed_below", "[gpu][swa]") {
  constexpr int64_t kHeads = 8, kKvHeads = 2, kCapacity = 300, kMaxSelected = 256;
  constexpr int64_t kBelow = 120;  // cache indices below this come from the recomputed rows
  const std::vector<SwaSequence> seqs = {
      sequence(0, 300, 40, 200),   // a prefix of the selection recomputed
      sequence(20, 80, 10, 50),    // every selected token below: all recomputed
      sequence(150, 150, 20, 60),  // none below
      sequence(0, 50, 0, 0),       // nothing selected: zeros
      sequence(7, 250, 30, 77),
  };
  const int64_t batch = static_cast<int64_t>(seqs.size());
  // head_dim, recomputed token padding (elements; 1: the recomputed rows force scalar loads).
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{128, 0}, {80, 4}, {64, 1}, {17, 0}};
  uint64_t seed = 2500;
  for (const auto& [d, rec_extra] : shapes) {
    for (const DType dtype : test::kFloatDtypes) {
      const DType kv_dtype = dtype;
      const int64_t q_row = kHeads * d, kv_token = kKvHeads * d;
      const int64_t rec_token = kv_token + rec_extra;
      const size_t kv_elems = static_cast<size_t>(batch * kCapacity * kv_token);
      const size_t rec_elems = static_cast<size_t>(batch * kMaxSelected * rec_token);
      const std::vector<float> q =
          test::random_rounded(dtype, static_cast<size_t>(batch * q_row), seed++);
      const std::vector<float> k = test::random_rounded(kv_dtype, kv_elems, seed++, -2.0f, 2.0f);
      const std::vector<float> v = test::random_rounded(kv_dtype, kv_elems, seed++);
      // Recomputed rows: other values than the cache's.
      const std::vector<float> k_rec =
          test::random_rounded(kv_dtype, rec_elems, seed++, -2.0f, 2.0f);
      const std::vector<float> v_rec =
          test::random_rounded(kv_dtype, rec_elems, seed++, 1.0f, 3.0f);
      std::mt19937_64 rng(seed++);
      std::vector<int32_t> selected(static_cast<size_t>(batch * kMaxSelected), -1);
      for (int64_t b = 0; b < batch; ++b) {
        const SwaSequence& s = seqs[static_cast<size_t>(b)];
        const std::vector<int32_t> set = random_subset(rng, s.first, s.first + s.n, s.total);
        std::copy(set.begin(), set.end(),
                  selected.begin() + static_cast<ptrdiff_t>(b * kMaxSelected));
      }
      const size_t n_probs = static_cast<size_t>(batch * kHeads * kMaxSelected);
      const size_t n_out = static_cast<size_t>(batch * q_row);

      std::vector<float> out_ref(n_out, kNaN), probs_ref(n_probs, kNaN);
      SparseAttentionParams p{.q = q.data(),
                              .k = k.data(),
                              .v = v.data(),
                              .selected = selected.data(),
                              .sequences = seqs.data(),
                              .out = out_ref.data(),
                              .probs = probs_ref.data(),
                              .batch = batch,
                              .n_heads = kHeads,
                              .n_kv_heads = kKvHeads,
                              .head_dim = d,
                              .groups = 1,
                              .capacity = kCapacity,
                              .max_selected = kMaxSelected,
                              .q_batch_stride = q_row,
                              .out_batch_stride = q_row,
                              .kv_batch_stride = kCapacity * kv_token,
                              .kv_token_stride = kv_token,
                              .k_recomputed = k_rec.data(),
                              .v_recomputed = v_rec.data(),
                              .recomputed_below = kBelow,
                              .recomputed_batch_stride = kMaxSelected * rec_token,
                              .recomputed_token_stride = rec_token,
                              .scale = 1.0f / std::sqrt(static_cast<float>(d)),
                              .dtype = DType::kF32,
                              .kv_dtype = DType::kF32};
      sparse_attention_cpu(p);
      {  // The recomputed rows matter: without them the reference differs.
        std::vector<float> out_plain(n_out, kNaN), probs_plain(n_probs, kNaN);
        SparseAttentionParams plain = p;
        plain.out = out_plain.data();
        plain.probs = probs_plain.data();
        plain.recomputed_below = 0;
        sparse_attention_cpu(plain);
        REQUIRE(out_plain != out_ref);
      }

      const DeviceBuffer q_d = test::upload(dtype, q);
      const DeviceBuffer k_d = test::upload(kv_dtype, k), v_d = test::upload(kv_dtype, v);
      const DeviceBuffer k_rec_d = test::upload(kv_dtype, k_rec);
      const DeviceBuffer v_rec_d = test::upload(kv_dtype, v_rec);
      const DeviceBuffer sel_d = test::upload_raw(selected);
      const DeviceBuffer seq_d = test::upload_raw(seqs);
      MappedBuffer k_host(kv_elems * dtype_size(kv_dtype)), v_host(kv_elems * dtype_size(kv_dtype));
      test::encode(kv_dtype, k, k_host.host());
      test::encode(kv_dtype, v, v_host.host());
      p.q = q_d.get();
      p.selected = sel_d.as<int32_t>();
      p.sequences = seq_d.as<SwaSequence>();
      p.k_recomputed = k_rec_d.get();
      p.v_recomputed = v_rec_d.get();
      p.dtype = dtype;
      p.kv_dtype = kv_dtype;
      auto run = [&](const void* k_ptr, const void* v_ptr) {
        const DeviceBuffer out = test::poisoned(dtype, n_out);
        const DeviceBuffer probs = test::poisoned(DType::kF32, n_probs);
        SparseAttentionParams pd = p;
        pd.k = k_ptr;
        pd.v = v_ptr;
        pd.out = out.get();
        pd.probs = probs.as<float>();
        gpu::sparse_attention(pd, nullptr);
        return AttnResult{.out = test::download(dtype, out.get(), n_out),
                          .probs = test::download(DType::kF32, probs.get(), n_probs)};
      };
      const AttnResult dev = run(k_d.get(), v_d.get());
      const AttnResult mapped = run(k_host.device(), v_host.device());

      const std::string what = str("recomputed sparse attention head_dim ", d, " rec_extra ",
                                   rec_extra, " ", dtype_name(dtype));
      INFO(what);
      test::check_close(dev.out, to_double(out_ref), test::tolerance_for(dtype, 1e-4, 2e-3),
                        test::tolerance_for(dtype, 1e-5, 2e-3), what + " out");
      std::vector<float> probs_got, probs_want;
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t h = 0; h < kHeads; ++h) {
          const int64_t total = seqs[static_cast<size_t>(b)].total;
          for (int64_t j = 0; j < total; ++j) {
            const size_t at = static_cast<size_t>((b * kHeads + h) * kMaxSelected + j);
            probs_got.push_back(dev.probs[at]);
            probs_want.push_back(probs_ref[at]);
          }
        }
      }
      test::check_close(probs_got, to_double(probs_want), 0.0, 1e-3, what + " probs");
      CHECK(std::memcmp(mapped.out.data(), dev.out.data(), n_out * sizeof(float)) == 0);
      CHECK(std::memcmp(mapped.probs.data(), dev.probs.data(), n_probs * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("gpu sparse_attention rejects recomputed_below without recomputed rows", "[gpu][swa]") {
  SparseAttentionParams p{.q = reinterpret_cast<const void*>(16),
                          .k = reinterpret_cast<const void*>(16),
                          .v = reinterpret_cast<const void*>(16),
                          .selected = reinterpret_cast<const int32_t*>(16),
                          .sequences = reinterpret_cast<const SwaSequence*>(16),
                          .out = reinterpret_cast<void*>(16),
                          .probs = reinterpret_cast<float*>(16),
                          .batch = 1,
                          .n_heads = 4,
                          .n_kv_heads = 2,
                          .head_dim = 64,
                          .groups = 1,
                          .capacity = 8,
                          .max_selected = 8,
                          .kv_batch_stride = 8 * 128,
                          .kv_token_stride = 128,
                          .recomputed_below = 4,
                          .recomputed_batch_stride = 8 * 128,
                          .recomputed_token_stride = 128};
  CHECK_THROWS_AS(gpu::sparse_attention(p, nullptr), InternalError);
  p.k_recomputed = reinterpret_cast<const void*>(16);
  p.v_recomputed = reinterpret_cast<const void*>(16);
  p.recomputed_token_stride = 64;  // less than a token's heads
  CHECK_THROWS_AS(gpu::sparse_attention(p, nullptr), InternalError);
}

namespace {

// ---- gather hidden ---------------------------------------------------------------------------

struct GatherCase {
  int64_t hidden_dim;
  int64_t token_extra;  // elements between hidden rows beyond hidden_dim
  int64_t batch_extra;  // elements between sequences beyond below rows
  int64_t base_offset;  // elements the hidden view starts into its buffer (misalignment)
  DType dtype;
};

// Ascending: `keep` tokens of [first, below) then total - keep of [below, first + n).
std::vector<int32_t> gather_selection(std::mt19937_64& rng, const SwaSequence& s, int32_t below,
                                      int32_t keep) {
  const int32_t end = s.first + s.n;
  const int32_t split = std::clamp(below, s.first, end);
  std::vector<int32_t> set = random_subset(rng, s.first, split, keep);
  const std::vector<int32_t> rest = random_subset(rng, split, end, s.total - keep);
  set.insert(set.end(), rest.begin(), rest.end());
  return set;
}

}  // namespace

TEST_CASE("gpu swa_gather_hidden matches the CPU reference bitwise", "[gpu][swa]") {
  constexpr int64_t kBelow = 90, kMaxRows = 24, kMaxSelected = 64;
  constexpr int32_t kOffset = 1000;
  const std::vector<SwaSequence> seqs = {
      sequence(0, 150, 10, 40),   // 20 kept, 20 past below: total > max_rows
      sequence(30, 120, 10, 50),  // left padding, exactly max_rows kept
      sequence(0, 60, 5, 10),     // every selected token kept
      sequence(95, 50, 5, 30),    // first past below: none kept
      sequence(5, 10, 0, 0),      // nothing selected
  };
  const std::vector<int32_t> keeps = {20, 24, 10, 0, 0};
  const int64_t batch = static_cast<int64_t>(seqs.size());
  // Copied in 16-, 8-, 4-, 2- and 1-byte words, as the addresses and row lengths allow.
  const std::vector<GatherCase> cases = {
      {64, 0, 0, 0, DType::kF16},   {64, 0, 0, 0, DType::kF32}, {256, 8, 8, 0, DType::kF16},
      {2048, 0, 0, 0, DType::kF32}, {64, 4, 0, 0, DType::kF16}, {64, 2, 0, 0, DType::kF16},
      {64, 0, 5, 0, DType::kF16},   {37, 0, 0, 0, DType::kF16}, {37, 3, 5, 1, DType::kF32},
      {64, 0, 0, 1, DType::kF16},   {33, 0, 0, 0, DType::kU8},  {64, 0, 0, 0, DType::kBF16},
      {37, 0, 0, 0, DType::kBF16}};
  uint64_t seed = 5000;
  for (const GatherCase& c : cases) {
    std::mt19937_64 rng(seed++);
    std::vector<int32_t> selected(static_cast<size_t>(batch * kMaxSelected), -1);
    for (int64_t b = 0; b < batch; ++b) {
      const std::vector<int32_t> set =
          gather_selection(rng, seqs[static_cast<size_t>(b)], static_cast<int32_t>(kBelow),
                           keeps[static_cast<size_t>(b)]);
      std::copy(set.begin(), set.end(),
                selected.begin() + static_cast<ptrdiff_t>(b * kMaxSelected));
    }
    const size_t element = dtype_size(c.dtype);
    const int64_t token_stride = c.hidden_dim + c.token_extra;
    const int64_t batch_stride = kBelow * token_stride + c.batch_extra;
    const size_t hidden_bytes = static_cast<size_t>(c.base_offset + batch * batch_stride) * element;
    std::vector<uint8_t> hidden(hidden_bytes);  // raw bits: NaN payloads and all
    std::uniform_int_distribution<int> byte(0, 255);
    for (uint8_t& x : hidden) x = static_cast<uint8_t>(byte(rng));
    const size_t n_rows = static_cast<size_t>(batch * kMaxRows);
    const size_t rows_bytes = n_rows * static_cast<size_t>(c.hidden_dim) * element;

    std::vector<uint8_t> rows_ref(rows_bytes, 0xab);
    std::vector<int32_t> positions_ref(n_rows, -7);
    const size_t base_bytes = static_cast<size_t>(c.base_offset) * element;
    SwaGatherHiddenParams p{.hidden = hidden.data() + base_bytes,
                            .selected = selected.data(),
                            .sequences = seqs.data(),
                            .rows = rows_ref.data(),
                            .positions = positions_ref.data(),
                            .batch = batch,
                            .max_selected = kMaxSelected,
                            .max_rows = kMaxRows,
                            .hidden_dim = c.hidden_dim,
                            .below = kBelow,
                            .hidden_batch_stride = batch_stride,
                            .hidden_token_stride = token_stride,
                            .position_offset = kOffset,
                            .dtype = c.dtype};
    swa_gather_hidden_cpu(p);

    const DeviceBuffer hidden_d = test::upload_raw(hidden);
    MappedBuffer hidden_host(hidden_bytes);
    std::memcpy(hidden_host.host(), hidden.data(), hidden_bytes);
    const DeviceBuffer sel_d = test::upload_raw(selected);
    const DeviceBuffer seq_d = test::upload_raw(seqs);
    p.selected = sel_d.as<int32_t>();
    p.sequences = seq_d.as<SwaSequence>();
    const std::string what =
        str("gather hidden dim ", c.hidden_dim, " token_extra ", c.token_extra, " batch_extra ",
            c.batch_extra, " base_offset ", c.base_offset, " ", dtype_name(c.dtype));
    INFO(what);
    for (const bool mapped : {false, true}) {
      INFO((mapped ? "mapped pinned hidden" : "device hidden"));
      const DeviceBuffer rows_d = test::upload_raw(std::vector<uint8_t>(rows_bytes, 0xcd));
      const DeviceBuffer pos_d = test::upload_raw(std::vector<int32_t>(n_rows, -9));
      SwaGatherHiddenParams pd = p;
      pd.hidden =
          static_cast<const char*>(mapped ? hidden_host.device() : hidden_d.get()) + base_bytes;
      pd.rows = rows_d.get();
      pd.positions = pos_d.as<int32_t>();
      gpu::swa_gather_hidden(pd, nullptr);
      CHECK(test::download_raw<uint8_t>(rows_d.get(), rows_bytes) == rows_ref);
      CHECK(test::download_raw<int32_t>(pos_d.get(), n_rows) == positions_ref);
    }
  }
}

namespace {

// ---- score update ----------------------------------------------------------------------------

struct ScoreState {
  std::vector<float> score, ring_weight;
  std::vector<int32_t> ring_index, ring_count;
};

}  // namespace

TEST_CASE("gpu swa_update_score matches the CPU reference", "[gpu][swa]") {
  constexpr int64_t kHeads = 4, kCapacity = 300, kMaxSelected = 64, kRows = 4, kRowCap = 64;
  std::vector<SwaSequence> seqs = {
      sequence(0, 280, 20, 60),  // drops and rewrites the same ring row
      sequence(13, 200, 10, 30),
      sequence(50, 250, 64, 64),
      sequence(0, 10, 5, 10),
  };
  seqs[0].drop_row = 1;
  seqs[0].write_row = 1;
  seqs[1].drop_row = -1;  // the window is not full yet
  seqs[1].write_row = 2;
  seqs[2].drop_row = 3;  // the window shrinks
  seqs[2].write_row = -1;
  seqs[3].drop_row = 0;
  seqs[3].write_row = 3;
  const int64_t batch = static_cast<int64_t>(seqs.size());
  uint64_t seed = 3000;
  for (const SwaScore mode : {SwaScore::kWindow, SwaScore::kDecay, SwaScore::kHistory}) {
    for (const int64_t groups : {int64_t{1}, kHeads}) {
      std::mt19937_64 rng(seed++);
      ScoreState init;
      init.score =
          test::random_floats(static_cast<size_t>(batch * groups * kCapacity), seed++, 0.0f, 2.0f);
      const size_t ring_elems = static_cast<size_t>(batch * groups * kRows * kRowCap);
      init.ring_index.assign(ring_elems, -1);
      init.ring_weight = test::random_floats(ring_elems, seed++, 0.0f, 0.5f);
      init.ring_count.assign(static_cast<size_t>(batch * kRows), 0);
      std::vector<int32_t> selected(static_cast<size_t>(batch * groups * kMaxSelected), -1);
      for (int64_t b = 0; b < batch; ++b) {
        const SwaSequence& s = seqs[static_cast<size_t>(b)];
        for (int64_t r = 0; r < kRows; ++r) {  // older steps' rows: counts shared by the groups
          const int32_t count = std::min<int32_t>(s.n, static_cast<int32_t>(5 + 13 * r));
          init.ring_count[static_cast<size_t>(b * kRows + r)] = count;
          for (int64_t g = 0; g < groups; ++g) {
            const std::vector<int32_t> set = random_subset(rng, s.first, s.first + s.n, count);
            std::copy(set.begin(), set.end(),
                      init.ring_index.begin() +
                          static_cast<ptrdiff_t>(((b * groups + g) * kRows + r) * kRowCap));
          }
        }
        for (int64_t g = 0; g < groups; ++g) {
          const std::vector<int32_t> set = random_subset(rng, s.first, s.first + s.n, s.total);
          std::copy(set.begin(), set.end(),
                    selected.begin() + static_cast<ptrdiff_t>((b * groups + g) * kMaxSelected));
        }
      }
      const std::vector<float> probs = test::random_floats(
          static_cast<size_t>(batch * kHeads * kMaxSelected), seed++, 0.0f, 0.2f);
      const bool window = mode == SwaScore::kWindow;

      ScoreState expected = init;
      SwaScoreUpdateParams p{.probs = probs.data(),
                             .selected = selected.data(),
                             .sequences = seqs.data(),
                             .score = expected.score.data(),
                             .ring_index = window ? expected.ring_index.data() : nullptr,
                             .ring_weight = window ? expected.ring_weight.data() : nullptr,
                             .ring_count = window ? expected.ring_count.data() : nullptr,
                             .batch = batch,
                             .groups = groups,
                             .n_heads = kHeads,
                             .capacity = kCapacity,
                             .max_selected = kMaxSelected,
                             .window_rows = window ? kRows : 0,
                             .row_capacity = window ? kRowCap : 0,
                             .mode = mode,
                             .gamma = mode == SwaScore::kDecay ? 0.9f : 1.0f};
      swa_update_score_cpu(p);

      const DeviceBuffer probs_d = test::upload_raw(probs), sel_d = test::upload_raw(selected);
      const DeviceBuffer seq_d = test::upload_raw(seqs), score_d = test::upload_raw(init.score);
      const DeviceBuffer index_d = test::upload_raw(init.ring_index);
      const DeviceBuffer weight_d = test::upload_raw(init.ring_weight);
      const DeviceBuffer count_d = test::upload_raw(init.ring_count);
      p.probs = probs_d.as<float>();
      p.selected = sel_d.as<int32_t>();
      p.sequences = seq_d.as<SwaSequence>();
      p.score = score_d.as<float>();
      if (window) {
        p.ring_index = index_d.as<int32_t>();
        p.ring_weight = weight_d.as<float>();
        p.ring_count = count_d.as<int32_t>();
      }
      gpu::swa_update_score(p, nullptr);

      const std::string what =
          str("score update mode ", static_cast<int>(mode), " groups ", groups);
      INFO(what);
      test::check_close(test::download_raw<float>(score_d.get(), init.score.size()),
                        to_double(expected.score), 1e-5, 1e-5, what + " score");
      if (window) {
        CHECK(test::download_raw<int32_t>(index_d.get(), ring_elems) == expected.ring_index);
        CHECK(test::download_raw<int32_t>(count_d.get(), init.ring_count.size()) ==
              expected.ring_count);
        test::check_close(test::download_raw<float>(weight_d.get(), ring_elems),
                          to_double(expected.ring_weight), 1e-6, 1e-7, what + " ring weights");
      }
    }
  }
}

namespace {

// ---- prefill score ---------------------------------------------------------------------------

struct PrefillCase {
  int64_t n_q, n_heads, n_kv_heads, head_dim, groups, q_extra;
  SwaScore mode;
  DType dtype;
};

}  // namespace

TEST_CASE("gpu swa_prefill_score matches the CPU reference", "[gpu][swa]") {
  constexpr int64_t kRows = 5;  // ring rows (window mode)
  const std::vector<PrefillCase> cases = {
      {70, 8, 2, 64, 1, 0, SwaScore::kWindow, DType::kF32},
      {70, 8, 2, 64, 8, 4, SwaScore::kWindow, DType::kF16},
      {70, 8, 2, 20, 1, 0, SwaScore::kHistory, DType::kF32},
      {300, 8, 2, 64, 1, 0, SwaScore::kHistory, DType::kF16},  // two row chunks
      {300, 4, 4, 128, 4, 0, SwaScore::kHistory, DType::kF32},
      {130, 4, 1, 17, 1, 3, SwaScore::kWindow, DType::kF16},  // scalar loads
      {40, 2, 2, 32, 2, 0, SwaScore::kDecay, DType::kF32},
      {70, 8, 2, 64, 8, 4, SwaScore::kWindow, DType::kBF16},
      {130, 4, 1, 17, 1, 3, SwaScore::kHistory, DType::kBF16},  // scalar loads
  };
  uint64_t seed = 4000;
  for (const PrefillCase& c : cases) {
    const bool window = c.mode == SwaScore::kWindow;
    const int64_t capacity = c.n_q + 10;
    // Real tokens [first, n_q): no padding, left padding, a single real token.
    std::vector<SwaSequence> seqs = {
        sequence(0, static_cast<int32_t>(c.n_q), 0, 0),
        sequence(13, static_cast<int32_t>(c.n_q - 13), 0, 0),
        sequence(static_cast<int32_t>(c.n_q - 1), 1, 0, 0),
    };
    for (size_t b = 0; b < seqs.size(); ++b) {
      SwaSequence& s = seqs[b];
      s.prefill_rows = window ? std::min<int32_t>(s.n, static_cast<int32_t>(kRows)) : s.n;
      s.write_row = window ? static_cast<int32_t>((3 * b) % kRows) : -1;
    }
    if (window) seqs[1].prefill_rows = 7;  // more rows than the ring: the last kRows stay
    const int64_t batch = static_cast<int64_t>(seqs.size());
    const int64_t q_token = c.n_heads * c.head_dim + c.q_extra;
    const int64_t kv_token = c.n_kv_heads * c.head_dim;
    const std::vector<float> q = test::random_rounded(
        c.dtype, static_cast<size_t>(batch * c.n_q * q_token), seed++, -1.5f, 1.5f);
    const std::vector<float> k = test::random_rounded(
        c.dtype, static_cast<size_t>(batch * capacity * kv_token), seed++, -1.5f, 1.5f);
    const int64_t row_cap = c.n_q;
    const size_t n_score = static_cast<size_t>(batch * c.groups * capacity);
    const size_t ring_elems = window ? static_cast<size_t>(batch * c.groups * kRows * row_cap) : 0;
    const size_t n_counts = window ? static_cast<size_t>(batch * kRows) : 0;

    ScoreState expected;
    expected.score.assign(n_score, kNaN);  // every element is written
    expected.ring_index.assign(ring_elems, -1);
    expected.ring_weight.assign(ring_elems, kNaN);
    expected.ring_count.assign(n_counts, 99);
    SwaPrefillScoreParams p{.q = q.data(),
                            .k = k.data(),
                            .sequences = seqs.data(),
                            .score = expected.score.data(),
                            .ring_index = window ? expected.ring_index.data() : nullptr,
                            .ring_weight = window ? expected.ring_weight.data() : nullptr,
                            .ring_count = window ? expected.ring_count.data() : nullptr,
                            .batch = batch,
                            .n_q = c.n_q,
                            .n_heads = c.n_heads,
                            .n_kv_heads = c.n_kv_heads,
                            .head_dim = c.head_dim,
                            .groups = c.groups,
                            .capacity = capacity,
                            .window_rows = window ? kRows : 0,
                            .row_capacity = window ? row_cap : 0,
                            .q_batch_stride = c.n_q * q_token,
                            .q_token_stride = q_token,
                            .kv_batch_stride = capacity * kv_token,
                            .kv_token_stride = kv_token,
                            .scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim)),
                            .mode = c.mode,
                            .dtype = DType::kF32,
                            .kv_dtype = DType::kF32};
    swa_prefill_score_cpu(p);

    const DeviceBuffer q_d = test::upload(c.dtype, q), k_d = test::upload(c.dtype, k);
    const DeviceBuffer seq_d = test::upload_raw(seqs);
    const DeviceBuffer score_d = test::poisoned(DType::kF32, n_score);
    const DeviceBuffer index_d = test::upload_raw(std::vector<int32_t>(ring_elems, -1));
    const DeviceBuffer weight_d = test::poisoned(DType::kF32, ring_elems);
    const DeviceBuffer count_d = test::upload_raw(std::vector<int32_t>(n_counts, 99));
    p.q = q_d.get();
    p.k = k_d.get();
    p.sequences = seq_d.as<SwaSequence>();
    p.score = score_d.as<float>();
    if (window) {
      p.ring_index = index_d.as<int32_t>();
      p.ring_weight = weight_d.as<float>();
      p.ring_count = count_d.as<int32_t>();
    }
    p.dtype = c.dtype;
    p.kv_dtype = c.dtype;
    gpu::swa_prefill_score(p, nullptr);

    const std::string what =
        str("prefill score n_q ", c.n_q, " heads ", c.n_heads, "/", c.n_kv_heads, " head_dim ",
            c.head_dim, " groups ", c.groups, " q_extra ", c.q_extra, " mode ",
            static_cast<int>(c.mode), " ", dtype_name(c.dtype));
    INFO(what);
    test::check_close(test::download(DType::kF32, score_d.get(), n_score),
                      to_double(expected.score), 1e-4, 1e-6, what + " score");
    if (!window) continue;
    const std::vector<int32_t> counts = test::download_raw<int32_t>(count_d.get(), n_counts);
    CHECK(counts == expected.ring_count);
    const std::vector<int32_t> index = test::download_raw<int32_t>(index_d.get(), ring_elems);
    const std::vector<float> weight = test::download(DType::kF32, weight_d.get(), ring_elems);
    std::vector<float> weight_got;
    std::vector<float> weight_want;
    bool index_same = true;
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t g = 0; g < c.groups; ++g) {
        for (int64_t r = 0; r < kRows; ++r) {
          const int32_t count = expected.ring_count[static_cast<size_t>(b * kRows + r)];
          for (int32_t j = 0; j < count; ++j) {
            const size_t at = static_cast<size_t>(((b * c.groups + g) * kRows + r) * row_cap + j);
            index_same = index_same && index[at] == expected.ring_index[at];
            weight_got.push_back(weight[at]);
            weight_want.push_back(expected.ring_weight[at]);
          }
        }
      }
    }
    CHECK(index_same);
    test::check_close(weight_got, to_double(weight_want), 1e-4, 1e-6, what + " ring weights");
  }
}

}  // namespace alisa
