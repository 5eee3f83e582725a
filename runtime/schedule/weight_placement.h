// Where a policy's weight percentages put each tensor of a model, and the buffers the block
// schedule needs for them, computed from the architecture alone: the WeightStore lays its
// weights out by it, and the memory plan counts the same bytes before anything loads (a layer's
// share of a tier varies from layer to layer, and the slots are sized for the largest).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "policy/disk_reads.h"
#include "policy/policy.h"
#include "runtime/base/dtype.h"
#include "runtime/model/weights.h"
#include "runtime/tiers/tiers.h"

namespace alisa {

struct WeightPlacement {
  double compute_percent = 100;
  double cpu_percent = 0;  // the rest is on disk
  // Layer matrices stored as group-wise int4 (kInt4Group values share an f16 scale and minimum)
  // on every tier, placed by their compressed size and dequantised on the compute device into a
  // dense slot before their layer computes. Vectors and the global weights stay dense.
  bool compress = false;
};

// The policy's weight percentages and compress_weights.
WeightPlacement weight_placement_of(const Policy& policy);

// A compressed tensor as stored: the packed int4 values, then the f16 scales, then the f16
// minima (one of each per group), each part on a slot alignment bound.
struct Int4Layout {
  explicit Int4Layout(int64_t n);
  int64_t n_groups;
  size_t scale_offset, min_offset, total;
};

// Values in a tensor of this shape.
int64_t numel_of(const std::vector<int64_t>& shape);

// Every tensor in a slot (or staging) starts on this bound.
inline constexpr size_t kSlotAlignment = 256;

// Layer matrices are compressed; vectors (biases, norms) are too small to gain.
bool compressible(const WeightSlot& slot, const WeightPlacement& placement);

struct PlacedTensor {
  Tier tier = Tier::kCompute;  // global weights stay on the compute tier
  size_t n_bytes = 0;          // as stored
  bool compressed = false;
  size_t slot_offset = 0;     // non-resident layer tensors, in their layer's slot
  size_t staging_offset = 0;  // disk-resident ones, in their layer's host staging
  size_t dense_offset = 0;    // compressed ones, in the dense slot
};

struct PlacedWeights {
  std::vector<PlacedTensor> tensors;  // per weight_layout entry
  // Compute bytes of a slot for any layer's non-resident tensors, host bytes of the staging of
  // any layer's disk-resident ones, compute bytes of the dense slot of any layer's compressed
  // matrices.
  size_t slot_bytes = 0;
  size_t staging_bytes = 0;
  size_t dense_slot_bytes = 0;
  uint64_t tier_bytes[3] = {0, 0, 0};  // by Tier
};

// Layer matrices in checkpoint order by place_by_percent over their stored bytes (within one
// matrix of the asked split), vectors and global weights on the compute tier; `dtype` is what
// dense tensors are stored in.
PlacedWeights place_weights(const std::vector<WeightSlot>& layout, DType dtype,
                            const WeightPlacement& placement);

// What each layer reads from disk under `placed` (of `layout`), layer by layer: the cost model
// prices the layers whose read outlasts the layer computing under it.
std::vector<LayerDiskRead> layer_disk_reads(const std::vector<WeightSlot>& layout,
                                            const PlacedWeights& placed);

}  // namespace alisa
