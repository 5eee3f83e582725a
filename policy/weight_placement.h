// Where a policy's weight percentages put each tensor of a model, and the buffers the block
// schedule needs for them, computed from the tensors' shapes alone: the WeightStore lays its
// weights out by it, and the memory plan counts the same bytes before anything loads (a layer's
// share of a tier varies from layer to layer, and the slots are sized for the largest).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "policy/placement.h"
#include "policy/policy.h"

namespace alisa {

// A stored weight as the placement sees it. The runtime derives the list, in checkpoint order,
// from its weight_layout (runtime/model/tensor_shapes.h).
struct TensorShape {
  std::vector<int64_t> shape;
  int64_t layer = -1;  // -1: a global weight
};

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
bool compressible(const TensorShape& tensor, const WeightPlacement& placement);

struct PlacedTensor {
  Tier tier = Tier::kCompute;  // global weights stay on the compute tier
  size_t n_bytes = 0;          // as stored
  bool compressed = false;
  size_t slot_offset = 0;     // non-resident layer tensors, in their layer's slot
  size_t staging_offset = 0;  // disk-resident ones, in their layer's host staging
  size_t dense_offset = 0;    // compressed ones, in the dense slot
};

struct PlacedWeights {
  std::vector<PlacedTensor> tensors;  // per entry of the layout
  // Compute bytes of a slot for any layer's non-resident tensors, host bytes of the staging of
  // any layer's disk-resident ones, compute bytes of the dense slot of any layer's compressed
  // matrices.
  size_t slot_bytes = 0;
  size_t staging_bytes = 0;
  size_t dense_slot_bytes = 0;
  uint64_t tier_bytes[kNumTiers] = {0, 0, 0};  // by Tier
};

// Layer matrices in checkpoint order by place_by_percent over their stored bytes (within one
// matrix of the asked split), vectors and global weights on the compute tier; dense tensors are
// stored with `value_bytes` a value (the run's activation dtype).
PlacedWeights place_weights(const std::vector<TensorShape>& layout, size_t value_bytes,
                            const WeightPlacement& placement);

// What one layer's weights read from disk: whole tensors are placed, so a layer's share of the
// disk varies from layer to layer.
struct LayerDiskRead {
  double bytes = 0;
  int64_t requests = 0;  // tensors, a read each
};

// What each layer reads from disk under `placed` (of `layout`), layer by layer: the cost model
// prices the layers whose read outlasts the layer computing under it.
std::vector<LayerDiskRead> layer_disk_reads(const std::vector<TensorShape>& layout,
                                            const PlacedWeights& placed);

}  // namespace alisa
