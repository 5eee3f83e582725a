// Sparse Window Attention kernels on the CPU against brute force: the batched selection, the
// sparse attention (dense when every token is selected), the score's incremental window against
// a sum recomputed from the kept rows, and the prefill's initial score against full softmax rows.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "kernels_cpu/attention_cpu.h"
#include "kernels_cpu/swa_cpu.h"
#include "kernels_cpu/swa_select_cpu.h"
#include "runtime/program/swa.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

constexpr int64_t kHeads = 4, kKvHeads = 2, kHeadDim = 8, kCapacity = 40;

// A cache [batch, kCapacity, kKvHeads, kHeadDim] and one query per sequence.
struct Inputs {
  int64_t batch = 0;
  std::vector<float> q, k, v;
};

Inputs random_inputs(int64_t batch, uint64_t seed) {
  Inputs in;
  in.batch = batch;
  in.q = test::random_floats(static_cast<size_t>(batch * kHeads * kHeadDim), seed);
  in.k =
      test::random_floats(static_cast<size_t>(batch * kCapacity * kKvHeads * kHeadDim), seed + 1);
  in.v = test::random_floats(in.k.size(), seed + 2);
  return in;
}

SparseAttentionParams sparse_params(const Inputs& in, const std::vector<int32_t>& selected,
                                    const std::vector<SwaSequence>& seqs, int64_t groups,
                                    int64_t max_selected, std::vector<float>& out,
                                    std::vector<float>& probs) {
  out.assign(in.q.size(), NAN);
  probs.assign(static_cast<size_t>(in.batch * kHeads * max_selected), NAN);
  return {.q = in.q.data(),
          .k = in.k.data(),
          .v = in.v.data(),
          .selected = selected.data(),
          .sequences = seqs.data(),
          .out = out.data(),
          .probs = probs.data(),
          .batch = in.batch,
          .n_heads = kHeads,
          .n_kv_heads = kKvHeads,
          .head_dim = kHeadDim,
          .groups = groups,
          .capacity = kCapacity,
          .max_selected = max_selected,
          .q_batch_stride = kHeads * kHeadDim,
          .out_batch_stride = kHeads * kHeadDim,
          .kv_batch_stride = kCapacity * kKvHeads * kHeadDim,
          .kv_token_stride = kKvHeads * kHeadDim,
          .scale = 0.35f};
}

TEST_CASE("sparse attention over every real token is the dense decode attention", "[swa]") {
  const int64_t batch = 3, groups = GENERATE(int64_t{1}, kHeads);
  const Inputs in = random_inputs(batch, 7);
  // Sequence b holds real tokens [2b, 30): the query is the last of them.
  std::vector<SwaSequence> seqs(batch);
  std::vector<int32_t> selected(static_cast<size_t>(batch * groups * kCapacity), -1);
  std::vector<uint8_t> mask(static_cast<size_t>(batch * kCapacity), 0);
  const int32_t end = 30;
  for (int64_t b = 0; b < batch; ++b) {
    const int32_t first = static_cast<int32_t>(2 * b);
    seqs[b] = {.first = first, .n = end - first, .local = end - first, .total = end - first};
    for (int64_t g = 0; g < groups; ++g) {
      std::iota(selected.begin() + (b * groups + g) * kCapacity,
                selected.begin() + (b * groups + g) * kCapacity + (end - first), first);
    }
    std::fill(mask.begin() + b * kCapacity + first, mask.begin() + b * kCapacity + end, 1);
  }
  std::vector<float> out, probs;
  sparse_attention_cpu(sparse_params(in, selected, seqs, groups, kCapacity, out, probs));

  std::vector<float> dense(in.q.size(), NAN);
  attention_cpu({.q = in.q.data(),
                 .k = in.k.data(),
                 .v = in.v.data(),
                 .key_mask = mask.data(),
                 .out = dense.data(),
                 .batch = batch,
                 .n_q = 1,
                 .n_kv_tokens = end,
                 .n_heads = kHeads,
                 .n_kv_heads = kKvHeads,
                 .head_dim = kHeadDim,
                 .q_start = end - 1,
                 .q_batch_stride = kHeads * kHeadDim,
                 .q_token_stride = kHeads * kHeadDim,
                 .kv_batch_stride = kCapacity * kKvHeads * kHeadDim,
                 .kv_token_stride = kKvHeads * kHeadDim,
                 .out_batch_stride = kHeads * kHeadDim,
                 .out_token_stride = kHeads * kHeadDim,
                 .mask_batch_stride = kCapacity,
                 .scale = 0.35f});
  const test::Comparison c = test::compare(out.data(), dense.data(), out.size(), 1e-5, 1e-6);
  CHECK(c.ok());
  // Each head's weights sum to one.
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < kHeads; ++h) {
      const float* row = probs.data() + (b * kHeads + h) * kCapacity;
      CHECK(std::accumulate(row, row + seqs[b].total, 0.0) == Approx(1.0).epsilon(1e-5));
    }
  }
}

TEST_CASE("sparse attention attends exactly the selected tokens", "[swa]") {
  const Inputs in = random_inputs(1, 21);
  // Tokens 3, 9, 17 only: the same as dense attention over a cache holding just those three.
  const std::vector<int32_t> picked = {3, 9, 17};
  std::vector<SwaSequence> seqs = {{.first = 0, .n = 18, .local = 1, .total = 3}};
  std::vector<int32_t> selected(kCapacity, -1);
  std::copy(picked.begin(), picked.end(), selected.begin());
  std::vector<float> out, probs;
  sparse_attention_cpu(sparse_params(in, selected, seqs, 1, kCapacity, out, probs));
  for (int64_t h = 0; h < kHeads; ++h) {
    const int64_t kv = h / (kHeads / kKvHeads);
    std::vector<double> logits;
    for (int32_t t : picked) {
      double dot = 0;
      for (int64_t d = 0; d < kHeadDim; ++d) {
        dot += double{in.q[h * kHeadDim + d]} * in.k[(t * kKvHeads + kv) * kHeadDim + d];
      }
      logits.push_back(0.35 * dot);
    }
    const double max = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (double& l : logits) sum += (l = std::exp(l - max));
    for (int64_t d = 0; d < kHeadDim; ++d) {
      double expected = 0;
      for (size_t j = 0; j < picked.size(); ++j) {
        expected += logits[j] / sum * in.v[(picked[j] * kKvHeads + kv) * kHeadDim + d];
      }
      CHECK(out[h * kHeadDim + d] == Approx(expected).margin(1e-6));
    }
    CHECK(probs[h * kCapacity] == Approx(logits[0] / sum).margin(1e-6));
  }
}

TEST_CASE("batched selection is the reference selection offset by each sequence's first token",
          "[swa]") {
  const int64_t batch = 4, groups = 2, max_selected = kCapacity;
  std::vector<float> score(static_cast<size_t>(batch * groups * kCapacity));
  std::mt19937 rng(3);
  // Few distinct values: ties everywhere, to exercise the lower-index rule.
  for (float& s : score) s = static_cast<float>(rng() % 7);
  const std::vector<SwaSequence> seqs = {
      {.first = 0, .n = 40, .local = 8, .total = 16},   // sparse
      {.first = 5, .n = 35, .local = 35, .total = 35},  // dense
      {.first = 10, .n = 30, .local = 6, .total = 6},   // recent only
      {.first = 39, .n = 0, .local = 0, .total = 0},    // all padding
  };
  std::vector<int32_t> selected(static_cast<size_t>(batch * groups * max_selected), -7);
  swa_select_cpu(SwaSelectParams{.score = score.data(),
                                 .sequences = seqs.data(),
                                 .selected = selected.data(),
                                 .batch = batch,
                                 .groups = groups,
                                 .capacity = kCapacity,
                                 .max_selected = max_selected});
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t g = 0; g < groups; ++g) {
      const SwaSequence& s = seqs[b];
      std::vector<int32_t> expected(static_cast<size_t>(s.total));
      if (s.total > 0) {
        const float* row = score.data() + (b * groups + g) * kCapacity + s.first;
        swa_select_cpu(std::span<const float>(row, static_cast<size_t>(s.n)),
                       {.total = s.total, .local = s.local, .global = s.total - s.local}, expected);
      }
      for (int32_t& e : expected) e += s.first;
      const int32_t* got = selected.data() + (b * groups + g) * max_selected;
      INFO("sequence " << b << " group " << g);
      CHECK(std::vector<int32_t>(got, got + s.total) == expected);
      if (s.total < max_selected) CHECK(got[s.total] == -7);  // nothing written past the set
    }
  }
}

// Brute force of the window score: every row ever added, and which are still counted.
struct Row {
  std::vector<int32_t> index;
  std::vector<float> weight;
};

TEST_CASE("the window score kept incrementally equals the sum of the last W rows", "[swa]") {
  const SwaOptions options{.sparsity = 0.5, .window_max = 4, .min_tokens = 4};
  const int64_t batch = 2, groups = 1, capacity = 64, max_prompt = 6;
  const SwaShape shape = swa_shape(options, kHeads, batch, capacity, max_prompt);
  std::vector<float> score(static_cast<size_t>(batch * capacity), 0.0f);
  std::vector<int32_t> ring_index(
      static_cast<size_t>(batch * shape.window_rows * shape.row_capacity));
  std::vector<float> ring_weight(ring_index.size());
  std::vector<int32_t> ring_count(static_cast<size_t>(batch * shape.window_rows), 0);
  std::vector<int32_t> selected(static_cast<size_t>(batch * shape.max_selected));
  std::vector<float> probs(static_cast<size_t>(batch * kHeads * shape.max_selected));
  SwaPlanner planner(options, batch);
  std::vector<SwaSequence> seqs(batch);
  std::vector<std::vector<Row>> history(batch);
  std::mt19937 rng(9);
  // Sequence 0 has a 6-token prompt, sequence 1 a 2-token one (left padding 4). The prefill's
  // rows are hand-made here (the prefill score has its own test).
  std::vector<int32_t> n_real = {6, 2};
  planner.plan(n_real, 6, true, seqs);
  for (int64_t b = 0; b < batch; ++b) {
    const SwaSequence& s = seqs[b];
    for (int32_t r = 0; r < s.prefill_rows; ++r) {
      const int32_t query = 6 - s.prefill_rows + r;
      Row row;
      for (int32_t key = s.first; key <= query; ++key) {
        row.index.push_back(key);
        row.weight.push_back(static_cast<float>(rng() % 100) / 100.0f);
        score[b * capacity + key] += row.weight.back();
      }
      const int64_t ring = (b * shape.window_rows + (s.write_row + r) % shape.window_rows);
      std::copy(row.index.begin(), row.index.end(), ring_index.begin() + ring * shape.row_capacity);
      std::copy(row.weight.begin(), row.weight.end(),
                ring_weight.begin() + ring * shape.row_capacity);
      ring_count[b * shape.window_rows + (s.write_row + r) % shape.window_rows] =
          static_cast<int32_t>(row.index.size());
      history[b].push_back(row);
    }
  }
  for (int64_t length = 7; length <= 40; ++length) {
    for (int32_t& n : n_real) ++n;
    planner.plan(n_real, length, false, seqs);
    for (int64_t b = 0; b < batch; ++b) {
      const SwaSequence& s = seqs[b];
      // Any distinct tokens of the sequence, with random weights per head.
      std::vector<int32_t> tokens(static_cast<size_t>(s.n));
      std::iota(tokens.begin(), tokens.end(), s.first);
      std::shuffle(tokens.begin(), tokens.end(), rng);
      Row row;
      for (int32_t j = 0; j < s.total; ++j) {
        selected[b * shape.max_selected + j] = tokens[j];
        float sum = 0;
        for (int64_t h = 0; h < kHeads; ++h) {
          const float p = static_cast<float>(rng() % 1000) / 4000.0f;
          probs[(b * kHeads + h) * shape.max_selected + j] = p;
          sum += p;
        }
        row.index.push_back(tokens[j]);
        row.weight.push_back(sum);
      }
      history[b].push_back(row);
    }
    swa_update_score_cpu({.probs = probs.data(),
                          .selected = selected.data(),
                          .sequences = seqs.data(),
                          .score = score.data(),
                          .ring_index = ring_index.data(),
                          .ring_weight = ring_weight.data(),
                          .ring_count = ring_count.data(),
                          .batch = batch,
                          .groups = groups,
                          .n_heads = kHeads,
                          .capacity = capacity,
                          .max_selected = shape.max_selected,
                          .window_rows = shape.window_rows,
                          .row_capacity = shape.row_capacity});
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t w = swa_score_window(swa_budget(n_real[b], 0.5, 4), 4);
      std::vector<double> expected(capacity, 0.0);
      const size_t n_rows = history[b].size();
      for (size_t r = n_rows - std::min<size_t>(n_rows, static_cast<size_t>(w)); r < n_rows; ++r) {
        for (size_t j = 0; j < history[b][r].index.size(); ++j) {
          expected[history[b][r].index[j]] += history[b][r].weight[j];
        }
      }
      INFO("length " << length << " sequence " << b << " W " << w);
      for (int64_t i = 0; i < capacity; ++i) {
        CHECK(score[b * capacity + i] == Approx(expected[i]).margin(1e-5));
      }
    }
  }
}

TEST_CASE("decay and history scores fold every step's row in", "[swa]") {
  const int64_t capacity = 8;
  std::vector<float> probs = {0.25f, 0.5f, 0.125f, 0.125f};  // 2 heads x 2 selected
  std::vector<int32_t> selected = {2, 5};
  std::vector<SwaSequence> seqs = {{.first = 1, .n = 6, .local = 1, .total = 2}};
  for (const SwaScore mode : {SwaScore::kDecay, SwaScore::kHistory}) {
    std::vector<float> score = {9, 1, 2, 3, 4, 5, 6, 9};
    const float gamma = mode == SwaScore::kDecay ? 0.5f : 1.0f;
    swa_update_score_cpu({.probs = probs.data(),
                          .selected = selected.data(),
                          .sequences = seqs.data(),
                          .score = score.data(),
                          .batch = 1,
                          .groups = 1,
                          .n_heads = 2,
                          .capacity = capacity,
                          .max_selected = 2,
                          .mode = mode,
                          .gamma = gamma});
    // Real tokens [1, 7) decay; token 2 gains 0.25 + 0.125, token 5 gains 0.5 + 0.125.
    const std::vector<float> expected = {
        9, 1 * gamma, 2 * gamma + 0.375f, 3 * gamma, 4 * gamma, 5 * gamma + 0.625f, 6 * gamma, 9};
    CHECK(score == expected);
  }
}

TEST_CASE("the prefill score sums the last rows' softmax weights over heads", "[swa]") {
  const int64_t batch = 2, n_q = 9, rows = 3, window_rows = 4, row_capacity = n_q;
  const int64_t groups = GENERATE(int64_t{1}, kHeads);
  std::vector<float> q =
      test::random_floats(static_cast<size_t>(batch * n_q * kHeads * kHeadDim), 4);
  std::vector<float> k =
      test::random_floats(static_cast<size_t>(batch * kCapacity * kKvHeads * kHeadDim), 5);
  const std::vector<SwaSequence> seqs = {
      {.first = 0, .n = 9, .write_row = 0, .prefill_rows = rows},
      {.first = 4, .n = 5, .write_row = 0, .prefill_rows = rows}};
  std::vector<float> score(static_cast<size_t>(batch * groups * kCapacity), NAN);
  std::vector<int32_t> ring_index(static_cast<size_t>(batch * groups * window_rows * row_capacity));
  std::vector<float> ring_weight(ring_index.size());
  std::vector<int32_t> ring_count(static_cast<size_t>(batch * window_rows), 99);
  swa_prefill_score_cpu({.q = q.data(),
                         .k = k.data(),
                         .sequences = seqs.data(),
                         .score = score.data(),
                         .ring_index = ring_index.data(),
                         .ring_weight = ring_weight.data(),
                         .ring_count = ring_count.data(),
                         .batch = batch,
                         .n_q = n_q,
                         .n_heads = kHeads,
                         .n_kv_heads = kKvHeads,
                         .head_dim = kHeadDim,
                         .groups = groups,
                         .capacity = kCapacity,
                         .window_rows = window_rows,
                         .row_capacity = row_capacity,
                         .q_batch_stride = n_q * kHeads * kHeadDim,
                         .q_token_stride = kHeads * kHeadDim,
                         .kv_batch_stride = kCapacity * kKvHeads * kHeadDim,
                         .kv_token_stride = kKvHeads * kHeadDim,
                         .scale = 0.5f});
  for (int64_t b = 0; b < batch; ++b) {
    const SwaSequence& s = seqs[b];
    for (int64_t g = 0; g < groups; ++g) {
      std::vector<double> expected(kCapacity, 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = n_q - rows + r;
        std::vector<double> row(kCapacity, 0.0);
        for (int64_t h = 0; h < kHeads; ++h) {
          if (groups > 1 && h != g) continue;
          std::vector<double> w;
          for (int64_t key = s.first; key <= i; ++key) {
            double dot = 0;
            for (int64_t d = 0; d < kHeadDim; ++d) {
              dot += double{q[((b * n_q + i) * kHeads + h) * kHeadDim + d]} *
                     k[((b * kCapacity + key) * kKvHeads + h / 2) * kHeadDim + d];
            }
            w.push_back(0.5 * dot);
          }
          const double max = *std::max_element(w.begin(), w.end());
          double sum = 0;
          for (double& x : w) sum += (x = std::exp(x - max));
          for (size_t j = 0; j < w.size(); ++j) row[s.first + j] += w[j] / sum;
        }
        // Ring row r holds this row.
        const int64_t at = ((b * groups + g) * window_rows + r) * row_capacity;
        CHECK(ring_count[b * window_rows + r] == i - s.first + 1);
        for (int64_t key = s.first; key <= i; ++key) {
          CHECK(ring_index[at + key - s.first] == key);
          CHECK(ring_weight[at + key - s.first] == Approx(row[key]).margin(1e-5));
          expected[key] += row[key];
        }
      }
      CHECK(ring_count[b * window_rows + rows] == 0);
      for (int64_t key = 0; key < kCapacity; ++key) {
        INFO("sequence " << b << " group " << g << " key " << key);
        CHECK(score[(b * groups + g) * kCapacity + key] == Approx(expected[key]).margin(1e-5));
      }
    }
  }
}

TEST_CASE("the planner's budgets and window rows follow SWA.md", "[swa]") {
  const SwaOptions options{.sparsity = 0.8, .window_max = 3, .min_tokens = 4};
  SwaPlanner planner(options, 2);
  std::vector<SwaSequence> seqs(2);
  std::vector<int32_t> n_real = {20, 0};  // the second sequence is all padding so far
  planner.plan(n_real, 20, true, seqs);
  // n = 20: B = 4, k_local = 2, W = 2: the prefill keeps its last 2 rows.
  CHECK(seqs[0].first == 0);
  CHECK(seqs[0].prefill_rows == 2);
  CHECK(seqs[0].write_row == 0);
  CHECK(seqs[1].n == 0);
  CHECK(seqs[1].prefill_rows == 0);
  n_real = {21, 1};
  planner.plan(n_real, 21, false, seqs);
  // 3 rows would exceed W = 2: row 0 leaves as row 2 comes in.
  CHECK(seqs[0].total == 4);
  CHECK(seqs[0].local == 2);
  CHECK(seqs[0].drop_row == 0);
  CHECK(seqs[0].write_row == 2);
  // The padded sequence's first real token: dense, a single token.
  CHECK(seqs[1].first == 20);
  CHECK(seqs[1].total == 1);
  CHECK(seqs[1].local == 1);
  CHECK(seqs[1].drop_row == -1);
  CHECK(seqs[1].write_row == 0);
  n_real = {22, 2};
  planner.plan(n_real, 22, false, seqs);
  CHECK(seqs[0].drop_row == 1);
  CHECK(seqs[0].write_row == 0);  // ring of window_max = 3 rows
  // recent: every attended token is local.
  SwaPlanner recent({.sparsity = 0.8, .score = SwaScore::kRecent, .min_tokens = 4}, 1);
  std::vector<SwaSequence> one(1);
  recent.plan(std::vector<int32_t>{30}, 30, false, one);
  CHECK(one[0].total == 6);
  CHECK(one[0].local == 6);
}

}  // namespace
}  // namespace alisa

namespace alisa {
namespace {

TEST_CASE("sparse attention reads a float16 cache as its float32 values", "[swa]") {
  Inputs in = random_inputs(2, 31);
  // Round the cache to float16 so that both runs see the same values.
  std::vector<uint16_t> k16(in.k.size()), v16(in.v.size());
  for (size_t i = 0; i < in.k.size(); ++i) {
    k16[i] = float_to_half_bits(in.k[i]);
    v16[i] = float_to_half_bits(in.v[i]);
    in.k[i] = half_bits_to_float(k16[i]);
    in.v[i] = half_bits_to_float(v16[i]);
  }
  const std::vector<SwaSequence> seqs = {{.first = 0, .n = 33, .local = 9, .total = 17},
                                         {.first = 4, .n = 20, .local = 20, .total = 20}};
  std::vector<int32_t> selected(static_cast<size_t>(2 * kCapacity));
  for (int64_t b = 0; b < 2; ++b) {
    for (int32_t j = 0; j < seqs[b].total; ++j) {
      selected[b * kCapacity + j] = seqs[b].first + seqs[b].n - seqs[b].total + j;
    }
  }
  std::vector<float> out32, probs32, out16, probs16;
  sparse_attention_cpu(sparse_params(in, selected, seqs, 1, kCapacity, out32, probs32));
  SparseAttentionParams half = sparse_params(in, selected, seqs, 1, kCapacity, out16, probs16);
  half.k = k16.data();
  half.v = v16.data();
  half.kv_dtype = DType::kF16;
  sparse_attention_cpu(half);
  CHECK(test::compare(out16.data(), out32.data(), out32.size(), 1e-6, 1e-6).ok());
}

}  // namespace
}  // namespace alisa
