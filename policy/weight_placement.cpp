#include "policy/weight_placement.h"

#include <algorithm>

#include "runtime/base/common.h"
#include "runtime/base/kernel_params.h"

namespace alisa {

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

WeightPlacement weight_placement_of(const Policy& policy) {
  return {.compute_percent = policy.weights_gpu_percent,
          .cpu_percent = policy.weights_cpu_percent,
          .compress = policy.compress_weights};
}

Int4Layout::Int4Layout(int64_t n)
    : n_groups(int4_n_groups(n, kInt4Group)),
      scale_offset(round_up(static_cast<size_t>(int4_packed_bytes(n)), kSlotAlignment)),
      min_offset(scale_offset + round_up(static_cast<size_t>(n_groups) * 2, kSlotAlignment)),
      total(min_offset + static_cast<size_t>(n_groups) * 2) {}

bool compressible(const TensorShape& tensor, const WeightPlacement& placement) {
  return placement.compress && tensor.layer >= 0 && tensor.shape.size() == 2;
}

namespace {

// Layer matrices are placed by the percentages; vectors (biases, norms: a few KB a layer) stay
// on the compute device, or nearly every layer would stream and the schedule could not load a
// layer's matrices further ahead than the layer before it.
bool streamable(const TensorShape& tensor) {
  return tensor.layer >= 0 && tensor.shape.size() == 2;
}

}  // namespace

PlacedWeights place_weights(const std::vector<TensorShape>& layout, size_t value_bytes,
                            const WeightPlacement& placement) {
  PlacedWeights out;
  out.tensors.resize(layout.size());
  std::vector<uint64_t> sizes;  // of the layer tensors, in checkpoint order
  int64_t n_layers = 0;
  for (size_t i = 0; i < layout.size(); ++i) {
    const int64_t n = numel_of(layout[i].shape);
    PlacedTensor& t = out.tensors[i];
    t.compressed = compressible(layout[i], placement);
    t.n_bytes = t.compressed ? Int4Layout(n).total : static_cast<size_t>(n) * value_bytes;
    if (streamable(layout[i])) sizes.push_back(t.n_bytes);
    n_layers = std::max(n_layers, layout[i].layer + 1);
  }
  const std::vector<Tier> placed =
      place_by_percent(sizes, placement.compute_percent, placement.cpu_percent);
  std::vector<size_t> slot_used(static_cast<size_t>(n_layers), 0),
      staging_used(slot_used.size(), 0), dense_used(slot_used.size(), 0);
  for (size_t i = 0, l = 0; i < layout.size(); ++i) {
    PlacedTensor& t = out.tensors[i];
    if (streamable(layout[i])) t.tier = placed[l++];
    out.tier_bytes[static_cast<int>(t.tier)] += t.n_bytes;
    if (layout[i].layer < 0) continue;
    const size_t j = static_cast<size_t>(layout[i].layer);
    if (t.compressed) {
      t.dense_offset = dense_used[j];
      dense_used[j] +=
          round_up(static_cast<size_t>(numel_of(layout[i].shape)) * value_bytes, kSlotAlignment);
    }
    if (t.tier == Tier::kCompute) continue;
    t.slot_offset = slot_used[j];
    slot_used[j] += round_up(t.n_bytes, kSlotAlignment);
    if (t.tier == Tier::kDisk) {
      t.staging_offset = staging_used[j];
      staging_used[j] += round_up(t.n_bytes, kSlotAlignment);
    }
  }
  for (size_t j = 0; j < slot_used.size(); ++j) {
    out.slot_bytes = std::max(out.slot_bytes, slot_used[j]);
    out.staging_bytes = std::max(out.staging_bytes, staging_used[j]);
    out.dense_slot_bytes = std::max(out.dense_slot_bytes, dense_used[j]);
  }
  return out;
}

std::vector<LayerDiskRead> layer_disk_reads(const std::vector<TensorShape>& layout,
                                            const PlacedWeights& placed) {
  std::vector<LayerDiskRead> reads;
  for (size_t i = 0; i < layout.size(); ++i) {
    const PlacedTensor& t = placed.tensors[i];
    if (layout[i].layer < 0 || t.tier != Tier::kDisk) continue;
    const size_t j = static_cast<size_t>(layout[i].layer);
    if (reads.size() <= j) reads.resize(j + 1);
    reads[j].bytes += static_cast<double>(t.n_bytes);
    ++reads[j].requests;
  }
  return reads;
}

}  // namespace alisa
