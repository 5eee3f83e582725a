// GPU sampling against the reference sampler: greedy argmax (lowest index on ties), and
// temperature / top-k / top-p draws on inputs whose decisions are not near a threshold.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "kernels_gpu/sampling.cuh"
#include "tests/kernels_gpu/gpu_test_util.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

using test::DeviceBuffer;

// The reference's decisions for one row, in its double arithmetic: the kept probabilities
// (after top-k and top-p) and how far the top-p cut sits from flipping (|cumulative - top_p|
// at the cut and just before it). GPU rounding (float exp, fixed-point sums) moves these by
// ~1e-7, so rows and draws are only compared when their margins are far larger.
struct RowDecisions {
  std::vector<double> kept_prob;  // 0 where not kept
  double total = 0;
  double top_p_margin = std::numeric_limits<double>::infinity();
};

RowDecisions decide(const float* logits, int64_t vocab, float temperature, int top_k, float top_p) {
  std::vector<float> z(static_cast<size_t>(vocab));
  for (int64_t j = 0; j < vocab; ++j) z[j] = logits[j] / temperature;
  std::vector<int64_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return z[a] > z[b]; });
  std::vector<bool> kept(static_cast<size_t>(vocab), true);
  if (top_k > 0 && top_k < vocab) {
    for (int64_t j = 0; j < vocab; ++j) kept[j] = z[j] >= z[order[top_k - 1]];
  }
  RowDecisions d;
  d.kept_prob.assign(static_cast<size_t>(vocab), 0.0);
  double sum = 0;
  for (int64_t j = 0; j < vocab; ++j) {
    if (!kept[j]) continue;
    d.kept_prob[j] = std::exp(static_cast<double>(z[j]) - z[order[0]]);
    sum += d.kept_prob[j];
  }
  for (double& p : d.kept_prob) p /= sum;
  if (top_p < 1.0f) {
    double cumulative = 0;
    bool first = true;
    for (int64_t j : order) {
      if (!kept[j]) continue;
      const double before = cumulative;
      cumulative += d.kept_prob[j];
      if (cumulative >= top_p) {
        d.top_p_margin = cumulative - top_p;
        if (!first) d.top_p_margin = std::min(d.top_p_margin, top_p - before);
        for (int64_t i = 0; i < vocab; ++i) {
          if (z[i] < z[j]) d.kept_prob[i] = 0.0;
        }
        break;
      }
      first = false;
    }
  }
  for (double p : d.kept_prob) d.total += p;
  return d;
}

// Distance of the draw u * total from the nearest cumulative boundary, relative to total.
double draw_margin(const RowDecisions& d, double u) {
  const double target = u * d.total;
  double cumulative = 0, margin = std::numeric_limits<double>::infinity();
  for (double p : d.kept_prob) {
    if (p == 0.0) continue;
    cumulative += p;
    margin = std::min(margin, std::abs(cumulative - target) / d.total);
  }
  return margin;
}

std::vector<int32_t> run_gpu(const SamplingParams& host, const std::vector<float>& logits) {
  DeviceBuffer logits_d = test::upload_raw(logits);
  DeviceBuffer keys_d = test::upload_raw(
      std::vector<uint64_t>(host.rng_keys, host.rng_keys + (host.rng_keys ? host.batch : 0)));
  DeviceBuffer out_d = test::upload_raw(std::vector<int32_t>(host.batch, -7));
  SamplingParams p = host;
  p.logits = logits_d.as<float>();
  p.rng_keys = host.rng_keys != nullptr ? keys_d.as<uint64_t>() : nullptr;
  p.out_tokens = out_d.as<int32_t>();
  gpu::sample(p, nullptr);
  return test::download_raw<int32_t>(out_d.get(), host.batch);
}

std::vector<int32_t> run_reference(const SamplingParams& host, const std::vector<float>& logits) {
  SamplingParams p = host;
  p.logits = logits.data();
  std::vector<int32_t> out(host.batch, -7);
  reference::sample(p, out.data());
  return out;
}

}  // namespace

TEST_CASE("gpu sample: greedy is the reference argmax, lowest index on ties", "[gpu][sampling]") {
  uint64_t seed = 1000;
  for (int64_t vocab : {1, 3, 17, 1000, 50257, 128256}) {
    for (int64_t extra : {0, 5}) {  // logits_row_stride = vocab + extra
      const int64_t batch = 5, stride = vocab + extra;
      std::vector<float> logits = test::random_floats(batch * stride, seed++, -10.0f, 10.0f);
      std::vector<int32_t> planted(batch, -1);
      if (vocab >= 3) {  // rows 1 and 3: an exact tie for the maximum
        for (int64_t row : {1, 3}) {
          const int64_t first = (row * 7919) % (vocab - 1), second = vocab - 1;
          logits[row * stride + first] = 11.0f;
          logits[row * stride + second] = 11.0f;
          planted[row] = static_cast<int32_t>(std::min(first, second));
        }
      }
      SamplingParams p;
      p.batch = batch;
      p.vocab = vocab;
      p.logits_row_stride = extra == 0 ? 0 : stride;
      p.temperature = 0.0f;
      const std::vector<int32_t> got = run_gpu(p, logits);
      const std::vector<int32_t> want = run_reference(p, logits);
      INFO("vocab=" << vocab << " stride=" << stride);
      CHECK(got == want);
      for (int64_t row = 0; row < batch; ++row) {
        if (planted[row] >= 0) CHECK(got[row] == planted[row]);
      }
    }
  }
}

TEST_CASE("gpu sample: temperature, top-k and top-p draws equal the reference", "[gpu][sampling]") {
  const int64_t batch = 8;
  const uint64_t step = 7;
  uint64_t seed = 2000;
  int n_checked = 0;
  for (int64_t vocab : {3, 17, 1000, 32000}) {
    for (float temperature : {0.5f, 1.0f, 1.7f}) {
      for (int top_k : {0, 1, 5, 40}) {
        for (float top_p : {1.0f, 0.9f, 0.5f, 0.0f}) {
          std::vector<float> logits(static_cast<size_t>(batch * vocab));
          std::vector<uint64_t> keys(batch);
          for (int64_t row = 0; row < batch; ++row) {
            float* row_logits = &logits[row * vocab];
            RowDecisions d;
            for (int tries = 0; tries < 100; ++tries) {  // a row whose top-p cut is clear
              const std::vector<float> values = test::random_floats(vocab, seed++, -8.0f, 8.0f);
              std::copy(values.begin(), values.end(), row_logits);
              d = decide(row_logits, vocab, temperature, top_k, top_p);
              if (d.top_p_margin > 1e-6) break;
            }
            REQUIRE(d.top_p_margin > 1e-6);
            uint64_t key = seed * 1000003 + row * 7777;
            int tries = 0;
            while (draw_margin(d, counter_uniform(key, step)) <= 1e-5 && tries++ < 10000) ++key;
            REQUIRE(tries < 10000);  // a draw clear of every boundary
            keys[row] = key;
          }
          SamplingParams p;
          p.rng_keys = keys.data();
          p.batch = batch;
          p.vocab = vocab;
          p.step = step;
          p.temperature = temperature;
          p.top_k = top_k;
          p.top_p = top_p;
          const std::vector<int32_t> got = run_gpu(p, logits);
          const std::vector<int32_t> want = run_reference(p, logits);
          INFO("vocab=" << vocab << " temperature=" << temperature << " top_k=" << top_k
                        << " top_p=" << top_p);
          CHECK(got == want);
          n_checked += batch;
        }
      }
    }
  }
  CHECK(n_checked == 4 * 3 * 4 * 4 * batch);
}

TEST_CASE("gpu sample: a row's token does not depend on the batch around it", "[gpu][sampling]") {
  const int64_t vocab = 32000, batch = 6;
  const std::vector<float> logits = test::random_floats(batch * vocab, 3000, -6.0f, 6.0f);
  std::vector<uint64_t> keys(batch);
  for (int64_t row = 0; row < batch; ++row) keys[row] = 0x1234567ull + 31 * row;
  SamplingParams p;
  p.rng_keys = keys.data();
  p.batch = batch;
  p.vocab = vocab;
  p.step = 3;
  p.temperature = 0.8f;
  p.top_k = 50;
  p.top_p = 0.95f;
  const std::vector<int32_t> all = run_gpu(p, logits);
  CHECK(run_gpu(p, logits) == all);            // reproducible
  for (int64_t row = 0; row < batch; ++row) {  // each row alone
    SamplingParams one = p;
    one.rng_keys = &keys[row];
    one.batch = 1;
    const std::vector<float> row_logits(logits.begin() + row * vocab,
                                        logits.begin() + (row + 1) * vocab);
    CHECK(run_gpu(one, row_logits)[0] == all[row]);
  }
}

}  // namespace alisa
