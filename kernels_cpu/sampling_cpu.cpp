#include "kernels_cpu/sampling_cpu.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "runtime/base/common.h"

namespace alisa {
namespace {

int32_t argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t j = 1; j < vocab; ++j) {
    if (logits[j] > logits[best]) best = j;  // strict: the lowest index wins a tie
  }
  return static_cast<int32_t>(best);
}

// Scratch of one worker, reused across its rows.
struct RowScratch {
  std::vector<float> scaled;   // [vocab], logits / temperature
  std::vector<float> sorted;   // [vocab], kept values, partially sorted in decreasing order
  std::vector<double> weight;  // [vocab], exp(scaled - max): unnormalised probabilities
};

// The smallest logit the top-p cut keeps: with values sorted in decreasing order, the value at
// which the cumulative probability first reaches top_p. Sorts only as long a prefix as it needs.
float top_p_cut(std::vector<float>& values, float max_value, double total, float top_p) {
  const double target = static_cast<double>(top_p) * total;
  const size_t n = values.size();
  if (n == 0) return max_value;  // only with NaN logits; the draw then reports them
  size_t sorted = 0;
  double cumulative = 0;
  for (size_t prefix = std::min<size_t>(n, 64);; prefix = std::min(n, prefix * 4)) {
    // Bring the next largest values to [sorted, prefix), then order just those.
    const auto from = values.begin() + static_cast<std::ptrdiff_t>(sorted);
    const auto to = values.begin() + static_cast<std::ptrdiff_t>(prefix);
    if (to != values.end()) std::nth_element(from, to, values.end(), std::greater<float>());
    std::sort(from, to, std::greater<float>());
    for (; sorted < prefix; ++sorted) {
      cumulative += std::exp(static_cast<double>(values[sorted]) - max_value);
      if (cumulative >= target) return values[sorted];
    }
    if (prefix == n) return values[n - 1];  // rounding kept it short of top_p: keep them all
  }
}

int32_t sample_row(const float* logits, const SamplingParams& p, uint64_t key, RowScratch& s) {
  const int64_t vocab = p.vocab;
  s.scaled.resize(static_cast<size_t>(vocab));
  float* scaled = s.scaled.data();
  float max_value = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < vocab; ++j) {
    scaled[j] = logits[j] / p.temperature;
    max_value = std::max(max_value, scaled[j]);
  }
  s.weight.resize(static_cast<size_t>(vocab));
  double* weight = s.weight.data();
  for (int64_t j = 0; j < vocab; ++j) {
    weight[j] = std::exp(static_cast<double>(scaled[j]) - max_value);
  }

  // Kept tokens are those with scaled[j] >= cut: cutting by value keeps every tie at the cut.
  float cut = -std::numeric_limits<float>::infinity();
  if (p.top_k > 0 && p.top_k < vocab) {
    s.sorted.assign(scaled, scaled + vocab);
    std::nth_element(s.sorted.begin(), s.sorted.begin() + (p.top_k - 1), s.sorted.end(),
                     std::greater<float>());
    cut = s.sorted[static_cast<size_t>(p.top_k - 1)];
  }
  if (p.top_p < 1.0f) {
    double total = 0;  // the top-k set's softmax denominator (up to the factor exp(max))
    s.sorted.clear();
    for (int64_t j = 0; j < vocab; ++j) {
      if (scaled[j] >= cut) {
        total += weight[j];
        s.sorted.push_back(scaled[j]);
      }
    }
    cut = std::max(cut, top_p_cut(s.sorted, max_value, total, p.top_p));
  }

  // Inverse-CDF draw over the kept tokens in token order.
  double kept_total = 0;
  for (int64_t j = 0; j < vocab; ++j) {
    if (scaled[j] >= cut) kept_total += weight[j];
  }
  const double target = static_cast<double>(counter_uniform(key, p.step)) * kept_total;
  double cumulative = 0;
  int64_t last_kept = -1;
  for (int64_t j = 0; j < vocab; ++j) {
    if (scaled[j] < cut) continue;
    cumulative += weight[j];
    if (cumulative > target) return static_cast<int32_t>(j);
    last_kept = j;
  }
  ALISA_ASSERT(last_kept >= 0, "sampling kept no token (NaN logits?)");
  return static_cast<int32_t>(last_kept);
}

}  // namespace

void sampling_cpu(const SamplingParams& p) {
  ALISA_ASSERT(p.batch >= 0 && p.vocab > 0 && p.vocab <= std::numeric_limits<int32_t>::max(),
               "batch=", p.batch, " vocab=", p.vocab);
  ALISA_ASSERT(p.temperature >= 0.0f && p.top_k >= 0, "temperature=", p.temperature,
               " top_k=", p.top_k);
  if (p.batch == 0) return;
  ALISA_ASSERT(p.logits != nullptr && p.out_tokens != nullptr);
  ALISA_ASSERT(p.temperature == 0.0f || p.rng_keys != nullptr, "sampling needs rng_keys");
  const int64_t row_stride = p.logits_row_stride != 0 ? p.logits_row_stride : p.vocab;
  ALISA_ASSERT(row_stride >= p.vocab, "logits_row_stride=", row_stride, " vocab=", p.vocab);

  auto rows = [&](const tbb::blocked_range<int64_t>& r) {
    RowScratch scratch;
    for (int64_t row = r.begin(); row < r.end(); ++row) {
      const float* logits = p.logits + row * row_stride;  // [vocab]
      p.out_tokens[row] = p.temperature == 0.0f ? argmax(logits, p.vocab)
                                                : sample_row(logits, p, p.rng_keys[row], scratch);
    }
  };
  if (p.batch == 1 || p.batch * p.vocab < 65536) {
    rows(tbb::blocked_range<int64_t>(0, p.batch));
  } else {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, p.batch), rows);
  }
}

}  // namespace alisa
