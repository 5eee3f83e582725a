#include "policy/swa_memory.h"

#include <algorithm>

#include "runtime/base/swa_budget.h"

namespace alisa {

SwaShape swa_shape(const SwaOptions& options, int64_t n_heads, int64_t batch, int64_t capacity,
                   int64_t max_prompt) {
  SwaShape shape{.batch = batch,
                 .groups = options.granularity == SwaGranularity::kHead ? n_heads : 1,
                 .n_heads = n_heads,
                 .capacity = capacity};
  // B grows with n, so the budget at a full cache bounds every step's.
  shape.max_selected = swa_budget(capacity, options.sparsity, options.min_tokens).total;
  if (options.score == SwaScore::kWindow) {
    shape.window_rows = options.window_max;
    shape.row_capacity = std::max(shape.max_selected, max_prompt);
  }
  return shape;
}

uint64_t swa_layer_state_bytes(const SwaOptions& options, const SwaShape& s) {
  if (options.score == SwaScore::kRecent) return 0;
  const uint64_t score = static_cast<uint64_t>(s.batch * s.groups * s.capacity) * 4;
  const uint64_t ring =
      static_cast<uint64_t>(s.batch * s.groups * s.window_rows * s.row_capacity) * 8 +
      static_cast<uint64_t>(s.batch * s.window_rows) * 4;
  return score + ring;
}

uint64_t swa_scratch_bytes(const SwaShape& s) {
  return static_cast<uint64_t>(s.batch * kSwaSequenceFields + s.batch * s.groups * s.max_selected +
                               s.batch * s.n_heads * s.max_selected) *
         4;
}

SwaBytes swa_block_bytes(const SwaOptions& options, const SwaShape& shape, int64_t n_units,
                         int64_t n_cpu_units, int64_t n_gpu_batches, int64_t recompute_below,
                         int64_t hidden_size, int64_t kv_dim, size_t activation_bytes) {
  const uint64_t per_unit = swa_layer_state_bytes(options, shape);
  const uint64_t scratch = swa_scratch_bytes(shape);
  SwaBytes bytes;
  bytes.compute = per_unit * static_cast<uint64_t>(n_units - n_cpu_units) + scratch +
                  static_cast<uint64_t>(n_gpu_batches * shape.batch * kSwaSequenceFields) * 4;
  if (n_cpu_units > 0) bytes.cpu = per_unit * static_cast<uint64_t>(n_cpu_units) + scratch;
  if (recompute_below > 0) {
    // rows and normed (hidden wide), K and V (kv_dim wide), positions.
    const uint64_t rows =
        static_cast<uint64_t>(shape.batch * std::min(shape.max_selected, recompute_below));
    bytes.compute +=
        rows * (static_cast<uint64_t>(2 * hidden_size + 2 * kv_dim) * activation_bytes + 4);
  }
  return bytes;
}

}  // namespace alisa
