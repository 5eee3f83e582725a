// WeightStore: the model's weights placed on the tiers by a policy. Global weights (embeddings,
// head, final norm) stay on the compute device; each decoder layer's tensors are placed by
// place_by_percent over the whole model, so a layer may have tensors on every tier. The block
// schedule brings a layer's non-resident tensors into a compute-side slot before computing it.
#pragma once

#include <future>
#include <map>
#include <memory>
#include <vector>

#include "policy/weight_placement.h"
#include "runtime/model/weights.h"
#include "runtime/tiers/copy_engine.h"
#include "runtime/tiers/tiers.h"

namespace alisa {

class WeightStore {
 public:
  // Reads every weight from `source` once, converts it to `dtype` and stores it on its tier.
  // Throws alisa::Error (naming the tier and the numbers) when a tier's cap is too small.
  WeightStore(const ModelSpec& spec, const WeightSource& source, const Tiers& tiers, DType dtype,
              const WeightPlacement& placement);
  ~WeightStore();
  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;

  const GlobalWeights& globals() const { return globals_; }
  // Every layer tensor is on the compute device, dense: layers are used where they lie.
  bool fully_resident() const { return slot_bytes_ == 0 && dense_slot_bytes_ == 0; }
  // Layer j when fully_resident().
  const LayerWeights& resident_layer(int64_t j) const;

  // Compute bytes a slot needs to hold any layer's non-resident tensors as stored, host bytes of
  // the staging that any layer's disk-resident tensors pass through, and compute bytes of the
  // dense slot that any layer's compressed matrices are dequantised into.
  size_t slot_bytes() const { return slot_bytes_; }
  size_t staging_bytes() const { return staging_bytes_; }
  size_t dense_slot_bytes() const { return dense_slot_bytes_; }
  uint64_t bytes_on(Tier tier) const { return tier_bytes_[static_cast<int>(tier)]; }
  bool layer_on_disk(int64_t j) const;
  // Whether layer j has tensors off the compute device (it streams through a slot).
  bool layer_streamed(int64_t j) const;

  // Reads layer j's disk-resident tensors into `staging` on the I/O pool, once `after` (the
  // previous user of the staging) is complete. One future per tensor.
  std::vector<std::future<void>> read_disk(int64_t j, void* staging, CopyEngine& copies,
                                           const Event* after) const;
  // Queues on Queue::kWeightsIn the copies of layer j's non-resident tensors into `slot`: CPU
  // tensors from where they live, disk tensors from `staging` (their reads complete). Returns
  // the bytes queued.
  uint64_t queue_load(int64_t j, void* slot, const void* staging, CopyEngine& copies) const;
  // Layer j's weights: dense non-resident tensors view `slot`; compressed matrices (resident or
  // in `slot`) are dequantised into `dense_slot` by `ops`, queued on the compute queue.
  LayerWeights layer(int64_t j, void* slot, void* dense_slot, Ops& ops) const;
  bool compressed() const { return dense_slot_bytes_ > 0; }

 private:
  struct StoredTensor : PlacedTensor {
    Tensor LayerWeights::*field = nullptr;
    Tensor home;  // compute or CPU tier
    int64_t numel = 0;
    const DiskFile* file = nullptr;
    uint64_t file_offset = 0;
    std::vector<int64_t> shape;
  };

  DType dtype_;
  Device* compute_;
  GlobalWeights globals_;
  std::vector<LayerWeights> resident_;             // per layer: compute-resident tensors only
  std::vector<std::vector<StoredTensor>> layers_;  // per layer
  std::vector<Buffer> buffers_;
  std::map<std::filesystem::path, std::unique_ptr<DiskFile>> files_;
  size_t slot_bytes_ = 0;
  size_t staging_bytes_ = 0;
  size_t dense_slot_bytes_ = 0;
  uint64_t tier_bytes_[3] = {0, 0, 0};
};

}  // namespace alisa
