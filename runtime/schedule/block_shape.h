// The shape of a block of sequences as the offloading schedule runs it (FlexGen's block:
// num_gpu_batches GPU batches of gpu_batch_size sequences each).
#pragma once

#include <cstdint>

#include "runtime/base/dtype.h"

namespace alisa {

struct BlockShape {
  int64_t gpu_batch_size = 1;
  int64_t num_gpu_batches = 1;
  int64_t capacity = 1;         // cache tokens per sequence (prompt + generated)
  int64_t max_step_tokens = 1;  // per sequence in one call (the padded prompt length)
  DType activation_dtype = DType::kF32;
  int64_t block_size() const { return gpu_batch_size * num_gpu_batches; }
};

// A unit is one (layer, GPU batch) pair of the block schedule, numbered layer-major
// (unit = layer * num_gpu_batches + batch); units take the two compute slots in turn.
struct UnitPosition {
  int64_t layer = 0, batch = 0;
  int slot = 0;  // of the two unit slots
};
inline UnitPosition unit_position(const BlockShape& shape, int64_t unit) {
  return {.layer = unit / shape.num_gpu_batches,
          .batch = unit % shape.num_gpu_batches,
          .slot = static_cast<int>(unit % 2)};
}

}  // namespace alisa
