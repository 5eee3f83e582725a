#include "runtime/schedule/weight_stream.h"

#include <algorithm>

#include "runtime/core/owned_buffers.h"

namespace alisa {

WeightStream::WeightStream(const WeightStore& weights, int64_t n_layers, const Tiers& tiers,
                           CopyEngine& copies, std::vector<Buffer>& owner)
    : weights_(weights), copies_(copies) {
  // Two slots (layer j computes from one while the next streamed layer loads into the other),
  // and two host stagings for disk-resident tensors.
  if (weights.slot_bytes() > 0) {
    for (void*& slot : slot_)
      slot = owned_bytes(owner, *tiers.compute, weights.slot_bytes(), "weight slot");
  }
  slot_of_.assign(static_cast<size_t>(n_layers), -1);
  for (int64_t j = 0; j < n_layers; ++j) {
    if (!weights.layer_streamed(j)) continue;
    slot_of_[static_cast<size_t>(j)] = static_cast<int>(streamed_.size() % 2);
    streamed_.push_back(j);
  }
  // Compressed layers are dequantised on the compute queue just before they compute: one dense
  // slot serves them all in turn.
  if (weights.dense_slot_bytes() > 0) {
    dense_slot_ =
        owned_bytes(owner, *tiers.compute, weights.dense_slot_bytes(), "dequantised weight slot");
  }
  if (weights.staging_bytes() > 0) {
    for (void*& staging : staging_) {
      staging = owned_bytes(owner, *tiers.cpu, weights.staging_bytes(), "weight disk staging");
    }
  }
}

WeightStream::~WeightStream() {
  for (std::vector<std::future<void>>& reads : reads_) {
    for (std::future<void>& read : reads) {
      if (read.valid()) read.wait();
    }
  }
}

void WeightStream::begin_step() {
  std::fill(std::begin(layer_done_), std::end(layer_done_), nullptr);
  std::fill(std::begin(ready_), std::end(ready_), nullptr);
  next_load_ = next_read_ = 0;
  while (next_read_ < std::min<size_t>(2, streamed_.size())) read_from_disk(next_read_++);
  queue_loads(0);
}

void WeightStream::queue_loads(int64_t j) {
  while (next_load_ < streamed_.size() && (next_load_ < 2 || streamed_[next_load_ - 2] < j)) {
    load(next_load_++);
    while (next_read_ <= next_load_ && next_read_ < streamed_.size()) {
      read_from_disk(next_read_++);
    }
  }
}

void WeightStream::read_from_disk(size_t r) {
  const int s = static_cast<int>(r % 2);
  // The staging was last read by the copies of streamed layer r - 2.
  reads_[s] = weights_.read_disk(streamed_[r], staging_[s], copies_, ready_[s]);
}

void WeightStream::load(size_t r) {
  const int64_t j = streamed_[r];
  const int s = static_cast<int>(r % 2);
  for (std::future<void>& read : reads_[s]) read.get();
  reads_[s].clear();
  if (layer_done_[s] != nullptr) copies_.wait(Queue::kWeightsIn, *layer_done_[s]);
  Event& start = copies_.begin(Queue::kWeightsIn);
  const uint64_t bytes = weights_.queue_load(j, slot_[s], staging_[s], copies_);
  ready_[s] = &copies_.end(Queue::kWeightsIn, start, str("layer ", j, " weights"), bytes);
}

LayerWeights WeightStream::layer(int64_t j, Ops& ops) {
  queue_loads(j);
  const int s = slot_of(j);
  if (s >= 0) copies_.wait(Queue::kCompute, *ready_[s]);
  if (weights_.fully_resident()) return weights_.resident_layer(j);
  void* slot = s >= 0 ? slot_[s] : nullptr;
  if (!weights_.compressed()) return weights_.layer(j, slot, nullptr, ops);
  Event& start = copies_.begin(Queue::kCompute);
  const LayerWeights w = weights_.layer(j, slot, dense_slot_, ops);
  copies_.end(Queue::kCompute, start, str("layer ", j, " dequantize"));
  return w;
}

void WeightStream::layer_queued(int64_t j, Event* computed) {
  if (const int s = slot_of(j); s >= 0) layer_done_[s] = computed;
}

}  // namespace alisa
