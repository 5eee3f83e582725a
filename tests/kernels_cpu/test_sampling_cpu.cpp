#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels_cpu/sampling_cpu.h"
#include "tests/support/reference_ops.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

std::vector<int32_t> sample(const std::vector<float>& logits, int64_t vocab,
                            const std::vector<uint64_t>& keys, uint64_t step, float temperature,
                            int32_t top_k = 0, float top_p = 1.0f, int64_t row_stride = 0) {
  const int64_t batch = static_cast<int64_t>(keys.size());
  std::vector<int32_t> tokens(static_cast<size_t>(batch), -1);
  const SamplingParams p{.logits = logits.data(),
                         .rng_keys = keys.data(),
                         .out_tokens = tokens.data(),
                         .batch = batch,
                         .vocab = vocab,
                         .logits_row_stride = row_stride,
                         .step = step,
                         .temperature = temperature,
                         .top_k = top_k,
                         .top_p = top_p};
  sampling_cpu(p);
  return tokens;
}

std::vector<uint64_t> keys_for(int64_t n, uint64_t seed) {
  std::vector<uint64_t> keys(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) keys[i] = seed * 1000003 + static_cast<uint64_t>(i) * 7919;
  return keys;
}

TEST_CASE("sampling_cpu greedy picks the lowest index among equal maxima", "[kernels_cpu]") {
  const int64_t vocab = 17, stride = 20;  // rows padded, as a slice of wider logits
  auto logits = test::random_floats(3 * stride, 81, -3, 1);
  logits[0 * stride + 5] = logits[0 * stride + 9] = 2.0f;
  logits[1 * stride + 16] = 2.0f;
  logits[1 * stride + 18] = 9.0f;  // padding past vocab: never a candidate
  for (int64_t j = 0; j < vocab; ++j) logits[2 * stride + j] = -1.0f;  // all tied
  const auto tokens = sample(logits, vocab, keys_for(3, 1), 0, 0.0f, 0, 1.0f, stride);
  CHECK(tokens == std::vector<int32_t>{5, 16, 0});
}

TEST_CASE("sampling_cpu top_k = 1 and a tiny top_p equal greedy", "[kernels_cpu]") {
  const int64_t vocab = 1000, batch = 16;
  const auto logits = test::random_floats(batch * vocab, 82, -5, 5);  // distinct values
  const auto keys = keys_for(batch, 2);
  const auto greedy = sample(logits, vocab, keys, 0, 0.0f);
  for (uint64_t step = 0; step < 5; ++step) {
    CHECK(sample(logits, vocab, keys, step, 1.5f, 1) == greedy);
    CHECK(sample(logits, vocab, keys, step, 0.7f, 0, 1e-6f) == greedy);
  }
}

TEST_CASE("sampling_cpu is a function of key, step and row only", "[kernels_cpu]") {
  const int64_t vocab = 67, batch = 8;
  const auto logits = test::random_floats(batch * vocab, 83, -1, 1);  // flat: many candidates
  const auto keys = keys_for(batch, 3);
  const auto all = sample(logits, vocab, keys, 4, 1.0f, 20, 0.95f);
  CHECK(sample(logits, vocab, keys, 4, 1.0f, 20, 0.95f) == all);
  for (int64_t row = 0; row < batch; ++row) {  // each row alone, and the batch reversed
    const std::vector<float> one(logits.begin() + row * vocab, logits.begin() + (row + 1) * vocab);
    CHECK(sample(one, vocab, {keys[row]}, 4, 1.0f, 20, 0.95f)[0] == all[row]);
  }
  std::vector<float> reversed;
  std::vector<uint64_t> reversed_keys;
  for (int64_t row = batch - 1; row >= 0; --row) {
    reversed.insert(reversed.end(), logits.begin() + row * vocab,
                    logits.begin() + (row + 1) * vocab);
    reversed_keys.push_back(keys[row]);
  }
  const auto back = sample(reversed, vocab, reversed_keys, 4, 1.0f, 20, 0.95f);
  for (int64_t row = 0; row < batch; ++row) CHECK(back[batch - 1 - row] == all[row]);
  // Other steps draw other numbers: over 8 rows and 4 steps, not all the same tokens.
  int n_changed = 0;
  for (uint64_t step = 5; step < 9; ++step) {
    n_changed += sample(logits, vocab, keys, step, 1.0f, 20, 0.95f) != all;
  }
  CHECK(n_changed > 0);
}

// Empirical frequencies over many steps (deterministic: counter-based draws, fixed key).
std::vector<double> frequencies(const std::vector<float>& logits, int32_t top_k, float top_p) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  std::vector<double> counts(static_cast<size_t>(vocab), 0.0);
  const int n_steps = 20000;
  for (int step = 0; step < n_steps; ++step) {
    counts[sample(logits, vocab, {12345}, step, 1.0f, top_k, top_p)[0]] += 1.0 / n_steps;
  }
  return counts;
}

TEST_CASE("sampling_cpu frequencies follow the kept softmax", "[kernels_cpu]") {
  // Probabilities 0.4, 0.3, 0.15, 0.1, 0.05 as logits.
  const std::vector<double> probs = {0.4, 0.3, 0.15, 0.1, 0.05};
  std::vector<float> logits;
  for (double q : probs) logits.push_back(static_cast<float>(std::log(q)));
  auto check = [&](int32_t top_k, float top_p, const std::vector<double>& expected) {
    CAPTURE(top_k, top_p);
    const auto freq = frequencies(logits, top_k, top_p);
    for (size_t j = 0; j < expected.size(); ++j) {
      CAPTURE(j, freq[j], expected[j]);
      CHECK(std::abs(freq[j] - expected[j]) < 0.015);  // ~4 standard deviations at 20000 draws
      if (expected[j] == 0) CHECK(freq[j] == 0);
    }
  };
  check(0, 1.0f, probs);
  check(2, 1.0f, {0.4 / 0.7, 0.3 / 0.7, 0, 0, 0});
  check(0, 0.8f, {0.4 / 0.85, 0.3 / 0.85, 0.15 / 0.85, 0, 0});  // 0.7 < 0.8 <= 0.85
  check(3, 0.8f, {0.4 / 0.7, 0.3 / 0.7, 0, 0, 0});  // top-p over the top-k renormalised set

  // Ties at the cut are kept: 0.4 + 0.2 reaches 0.5, and every 0.2 ties with the cut.
  const std::vector<float> tied = {std::log(0.2f), std::log(0.4f), std::log(0.2f), std::log(0.2f)};
  const auto freq = frequencies(tied, 0, 0.5f);
  CHECK(freq[0] > 0.15);
  CHECK(freq[3] > 0.15);
  const auto freq_k = frequencies(tied, 2, 1.0f);  // the 2nd value 0.2 ties three ways
  CHECK(freq_k[3] > 0.15);
}

TEST_CASE("sampling_cpu agrees with the reference sampler", "[kernels_cpu]") {
  struct Setting {
    float temperature;
    int32_t top_k;
    float top_p;
  };
  const Setting settings[] = {{0.0f, 0, 1.0f},  {1.0f, 0, 1.0f},    {0.7f, 50, 1.0f},
                              {1.3f, 0, 0.9f},  {1.0f, 5, 0.5f},    {0.5f, 1, 1.0f},
                              {1.0f, 0, 0.01f}, {2.0f, 2000, 0.99f}};
  for (int64_t vocab : {3, 130, 1000, 50021}) {
    const int64_t batch = vocab > 1000 ? 3 : 9;
    auto logits = test::random_floats(batch * vocab, 84, -4, 4);
    logits[7 % (batch * vocab)] = logits[0];  // a tie
    const auto keys = keys_for(batch, 5);
    for (const Setting& s : settings) {
      for (uint64_t step = 0; step < 4; ++step) {
        CAPTURE(vocab, s.temperature, s.top_k, s.top_p, step);
        const auto tokens = sample(logits, vocab, keys, step, s.temperature, s.top_k, s.top_p);
        std::vector<int32_t> expected(static_cast<size_t>(batch), -1);
        const SamplingParams p{.logits = logits.data(),
                               .rng_keys = keys.data(),
                               .out_tokens = expected.data(),
                               .batch = batch,
                               .vocab = vocab,
                               .step = step,
                               .temperature = s.temperature,
                               .top_k = s.top_k,
                               .top_p = s.top_p};
        reference::sample(p, expected.data());
        CHECK(tokens == expected);
      }
    }
  }
}

}  // namespace
}  // namespace alisa
