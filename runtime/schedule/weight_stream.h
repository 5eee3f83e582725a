// WeightStream: a step's weights on their way to the compute device. Layers with tensors off the
// compute device (the streamed layers) take two weight slots in turn: the r-th of them loads
// once the (r - 2)-th, its slot's previous user, is queued to compute, so a load hides under
// every layer in between, however unevenly the placement spreads those layers. Disk reads run
// one streamed layer ahead of the loads, into two pinned stagings.
#pragma once

#include <cstdint>
#include <future>
#include <vector>

#include "runtime/schedule/weight_store.h"

namespace alisa {

class WeightStream {
 public:
  // Allocates the slots (compute), the dense slot of compressed layers (compute) and the disk
  // stagings (CPU tier) the store needs; the Buffers go to `owner`.
  WeightStream(const WeightStore& weights, int64_t n_layers, const Tiers& tiers, CopyEngine& copies,
               std::vector<Buffer>& owner);
  // Waits for reads still writing into the stagings.
  ~WeightStream();
  WeightStream(const WeightStream&) = delete;
  WeightStream& operator=(const WeightStream&) = delete;

  // Starts a step: the first disk reads and loads.
  void begin_step();
  // Layer j's weights on the compute device: queues every load (and read) that may go before
  // layer j computes, makes the compute queue wait for j's load, and returns where its tensors
  // lie (in place, in its slot, or dequantised on the compute queue into the dense slot).
  LayerWeights layer(int64_t j, Ops& ops);
  // Layer j's last compute is queued (its end event): its slot may take the next load.
  void layer_queued(int64_t j, Event* computed);

 private:
  int slot_of(int64_t j) const { return slot_of_[static_cast<size_t>(j)]; }  // -1: resident
  void queue_loads(int64_t j);
  void load(size_t r);  // the r-th streamed layer
  void read_from_disk(size_t r);

  const WeightStore& weights_;
  CopyEngine& copies_;
  std::vector<int64_t> streamed_;         // layers with tensors off the compute device
  std::vector<int> slot_of_;              // per layer
  size_t next_load_ = 0, next_read_ = 0;  // of streamed_, in this step
  void* slot_[2] = {};
  void* staging_[2] = {};
  void* dense_slot_ = nullptr;
  std::vector<std::future<void>> reads_[2];
  Event* ready_[2] = {};
  Event* layer_done_[2] = {};
};

}  // namespace alisa
