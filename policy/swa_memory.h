// Sparse Window Attention's options and the bytes of its selection state: what the memory plan
// counts and runtime/program/swa.h allocates. The rules are ../shared/design/SWA.md's.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/base/kernel_params.h"

namespace alisa {

enum class SwaGranularity : uint8_t { kLayer, kHead };

struct SwaOptions {
  double sparsity = 0;      // fraction of past tokens not attended; 0: dense attention
  int64_t window_max = 32;  // W = min(k_local, window_max) steps of score
  SwaGranularity granularity = SwaGranularity::kLayer;
  SwaScore score = SwaScore::kWindow;
  int64_t min_tokens = 16;  // the budget never drops below this
  double gamma = 0.95;      // score: decay
  bool enabled() const { return sparsity > 0; }
};

// The state of one layer for a batch of sequences whose caches hold up to `capacity` tokens and
// whose prompts have up to `max_prompt` tokens.
struct SwaShape {
  int64_t batch = 0;
  int64_t groups = 1;  // 1 or n_heads
  int64_t n_heads = 0;
  int64_t capacity = 0;
  int64_t max_selected = 0;  // the budget at `capacity` tokens
  int64_t window_rows = 0;   // score: window
  int64_t row_capacity = 0;  // score: window; prompt rows are whole prompts
};
SwaShape swa_shape(const SwaOptions& options, int64_t n_heads, int64_t batch, int64_t capacity,
                   int64_t max_prompt);
// Bytes of one layer's persistent state (score and ring) and of the shared scratch (sets,
// weights and the step's sequences).
uint64_t swa_layer_state_bytes(const SwaOptions& options, const SwaShape& shape);
uint64_t swa_scratch_bytes(const SwaShape& shape);

// Bytes a block's SWA state takes on the compute device and on the CPU tier: every (layer, GPU
// batch) unit's score and ring (n_cpu_units of them attended on the CPU keep theirs there), the
// scratch of each device that attends, the step's plan per GPU batch, and Phase III's scratch
// for `recompute_below` kept positions (0: none).
struct SwaBytes {
  uint64_t compute = 0;
  uint64_t cpu = 0;
};
SwaBytes swa_block_bytes(const SwaOptions& options, const SwaShape& shape, int64_t n_units,
                         int64_t n_cpu_units, int64_t n_gpu_batches, int64_t recompute_below,
                         int64_t hidden_size, int64_t kv_dim, size_t activation_bytes);

}  // namespace alisa
