#include "runtime/jobs/perplexity.h"

#include <algorithm>
#include <cmath>

namespace alisa {
namespace {

struct Window {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t first_scored = 0;  // tokens [first_scored, end) are scored; first_scored > begin
};

std::vector<Window> plan_windows(int64_t n, int64_t context, int64_t stride) {
  std::vector<Window> windows;
  int64_t scored_until = 1;  // token 0 has no context in any window
  for (int64_t begin = 0; scored_until < n; begin += stride) {
    const int64_t end = std::min(n, begin + context);
    if (end - begin >= 2 && end > scored_until) {
      windows.push_back({begin, end, std::max(scored_until, begin + 1)});
      scored_until = end;
    }
    if (end == n) break;
  }
  return windows;
}

// -log softmax(row)[target], in double.
double token_nll(const float* row, int64_t vocab, int32_t target) {
  const float max = *std::max_element(row, row + vocab);
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - max);
  return std::log(sum) + max - row[target];
}

}  // namespace

PerplexityResult compute_perplexity(Engine& engine, const std::vector<int32_t>& ids,
                                    const PerplexityOptions& options) {
  const ModelSpec& spec = engine.spec();
  const int64_t n = static_cast<int64_t>(ids.size());
  const int64_t context = options.context_length > 0 ? options.context_length : spec.max_positions;
  const int64_t stride = options.stride > 0 ? options.stride : context;
  ALISA_CHECK(context >= 2 && context <= spec.max_positions, "context_length ", context,
              " must be between 2 and the model's ", spec.max_positions, " positions");
  ALISA_CHECK(stride <= context, "stride ", stride, " must not exceed context_length ", context);
  ALISA_CHECK(n >= 2, "the text has ", n, " tokens; perplexity needs at least 2");
  for (int32_t id : ids) {
    ALISA_CHECK(id >= 0 && id < spec.vocab_size, "token id ", id, " outside the vocabulary");
  }
  const std::vector<Window> windows = plan_windows(n, context, stride);
  const int64_t logits_per_window = context * spec.vocab_size * 4;
  const int64_t batch = options.batch_size > 0
                            ? options.batch_size
                            : std::max<int64_t>(1, (int64_t{256} << 20) / logits_per_window);

  double total_nll = 0;
  int64_t n_scored = 0;
  for (size_t first = 0; first < windows.size(); first += static_cast<size_t>(batch)) {
    const size_t last = std::min(windows.size(), first + static_cast<size_t>(batch));
    const int64_t b = static_cast<int64_t>(last - first);
    int64_t length = 0;
    for (size_t w = first; w < last; ++w)
      length = std::max(length, windows[w].end - windows[w].begin);
    // Windows shorter than the longest (the text's tail) are left-padded.
    std::vector<int32_t> batch_ids(static_cast<size_t>(b * length), 0);
    std::vector<uint8_t> mask(batch_ids.size(), 0);
    for (size_t w = first; w < last; ++w) {
      const Window& window = windows[w];
      const int64_t pad = length - (window.end - window.begin);
      const int64_t row = static_cast<int64_t>(w - first) * length;
      std::copy(ids.begin() + window.begin, ids.begin() + window.end,
                batch_ids.begin() + row + pad);
      std::fill_n(mask.begin() + row + pad, window.end - window.begin, uint8_t{1});
    }
    // One prefill per window, or with sparse window attention one token per step.
    const std::vector<float> logits = engine.forward(batch_ids, mask, b, length);
    for (size_t w = first; w < last; ++w) {
      const Window& window = windows[w];
      const int64_t pad = length - (window.end - window.begin);
      const int64_t row = static_cast<int64_t>(w - first) * length + pad - window.begin;
      // The logits at token t - 1 predict token t.
      for (int64_t t = window.first_scored; t < window.end; ++t) {
        total_nll += token_nll(&logits[static_cast<size_t>((row + t - 1) * spec.vocab_size)],
                               spec.vocab_size, ids[static_cast<size_t>(t)]);
        ++n_scored;
      }
    }
  }
  PerplexityResult result;
  result.mean_nll = total_nll / static_cast<double>(n_scored);
  result.perplexity = std::exp(result.mean_nll);
  result.n_tokens = n_scored;
  result.n_windows = static_cast<int64_t>(windows.size());
  result.context_length = context;
  result.stride = stride;
  return result;
}

}  // namespace alisa
