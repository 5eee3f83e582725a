// Perplexity of a token sequence under the model, the standard way (as lm-evaluation-harness
// and Hugging Face's perplexity guide do it): windows of context_length tokens, stride tokens
// apart; each token is scored once, by the first window that predicts it, with all the context
// that window gives it. stride == context_length is non-overlapping windows.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/jobs/engine.h"

namespace alisa {

struct PerplexityOptions {
  int64_t context_length = 0;  // 0: the model's max positions
  int64_t stride = 0;          // 0: context_length
  int64_t batch_size = 0;      // windows run together; 0: as many as ~256 MiB of logits allow
};

struct PerplexityResult {
  double perplexity = 0;  // exp(mean_nll)
  double mean_nll = 0;    // natural log, per predicted token
  int64_t n_tokens = 0;   // tokens scored
  int64_t n_windows = 0;
  int64_t context_length = 0;
  int64_t stride = 0;
};

PerplexityResult compute_perplexity(Engine& engine, const std::vector<int32_t>& ids,
                                    const PerplexityOptions& options);

}  // namespace alisa
