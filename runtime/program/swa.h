// Sparse Window Attention on the host side: the options, the sizes of a batch's selection state,
// and the per-step plan of every sequence (budget, score window ring rows), the same for all
// layers. The rules are ../shared/design/SWA.md's; the kernels (kernel_params.h) do the rest.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/base/kernel_params.h"
#include "runtime/core/device.h"
#include "runtime/ops/ops.h"

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

// Throws alisa::Error naming `source` and the option when a value is out of range.
void validate(const SwaOptions& options, const std::string& source);
const char* swa_granularity_name(SwaGranularity granularity);
const char* swa_score_name(SwaScore score);
// "layer" | "head" and "window" | "decay" | "history" | "recent"; errors name `source`.
SwaGranularity parse_swa_granularity(const std::string& text, const std::string& source);
SwaScore parse_swa_score(const std::string& text, const std::string& source);

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

// One layer's persistent tensors (score, ring) on `device`; the Buffers go to `owner`. Zeroed
// by each prefill.
SwaState allocate_swa_layer(Device& device, const SwaOptions& options, const SwaShape& shape,
                            std::vector<Buffer>& owner);
// The scratch tensors (sequences, selected, probs) on `device`, set into `state`.
SwaState allocate_swa_scratch(Device& device, const SwaShape& shape, std::vector<Buffer>& owner);
// A layer's state with a batch's scratch.
SwaState with_scratch(const SwaState& layer, const SwaState& scratch);

// The per-sequence plan of each step: budgets and the score window's ring rows.
class SwaPlanner {
 public:
  SwaPlanner(const SwaOptions& options, int64_t n_sequences);

  // The step's SwaSequence per sequence, given each sequence's real tokens after the step and
  // the cache length after it. A step at an empty cache is the prefill (dense, initialises the
  // score); later steps add one token each.
  void plan(std::span<const int32_t> n_real, int64_t length, bool prefill,
            std::span<SwaSequence> out);

 private:
  struct Cursor {
    int64_t next_row = 0;       // rows written so far (prompt rows included)
    int64_t first_counted = 0;  // the oldest row still in the score
  };
  SwaOptions options_;
  std::vector<Cursor> cursors_;
};

}  // namespace alisa
