// BlockRunner's refill lanes (continuous batching): a prompt that takes a finished sequence's row
// is prefilled inside a decode step, per layer, right after its GPU batch's decode unit and on the
// same weights, into the row's cache under the block's write index. The unit's cache view is
// then the one the decode just used (its slot, its home, or a CPU home through mapped memory),
// so the unit's store carries the prompt home with the step's token.
#include "runtime/core/owned_buffers.h"
#include "runtime/schedule/block_runner.h"

namespace alisa {

bool BlockRunner::refill_fits(int64_t n) const {
  return n >= 1 && n <= shape_.max_step_tokens && length_ > 0 &&
         length_ + 1 - n >= kv_.kept_positions() && length_ < shape_.capacity;
}

void BlockRunner::allocate_lanes() {
  const int64_t n = max_refill_tokens();
  Device& compute = *tiers_.compute;
  lane_ids_ = owned_tensor(buffers_, compute, DType::kI32, {n}, "refill token ids");
  lane_positions_ = owned_tensor(buffers_, compute, DType::kI32, {n}, "refill positions");
  lane_hidden_ = owned_tensor(buffers_, compute, shape_.activation_dtype, {n, spec_.hidden_size},
                              "refill hidden states");
  if (kv_.swa_enabled()) {
    lane_sequences_ = owned_tensor(buffers_, compute, DType::kI32,
                                   {shape_.block_size(), kSwaSequenceFields}, "refill SWA plans");
  }
}

void BlockRunner::set_up_lanes(std::span<const RowRefill> refills, int64_t past) {
  ALISA_ASSERT(has_refill_lanes(), "refills for a runner made without refill lanes (not made for ",
               "refill, or a policy refill does not serve)");
  std::vector<int32_t> ids, positions;
  std::vector<SwaSequence> plans;
  std::vector<bool> taken(static_cast<size_t>(shape_.block_size()), false);
  for (const RowRefill& refill : refills) {
    ALISA_ASSERT(refill.row >= 0 && refill.row < shape_.block_size() &&
                     !taken[static_cast<size_t>(refill.row)],
                 "refill of row ", refill.row);
    taken[static_cast<size_t>(refill.row)] = true;
    const int64_t n = static_cast<int64_t>(refill.prompt.size());
    lanes_.push_back({.row = refill.row,
                      .first = past + 1 - n,
                      .n = n,
                      .offset = static_cast<int64_t>(ids.size())});
    for (int64_t i = 0; i < n; ++i) {
      const int32_t id = refill.prompt[static_cast<size_t>(i)];
      ALISA_ASSERT(id >= 0 && id < spec_.vocab_size, "token id ", id, " outside the vocabulary");
      ids.push_back(id);
      positions.push_back(static_cast<int32_t>(i + spec_.position_offset));
    }
    if (kv_.swa_enabled()) {
      plans.push_back(kv_.restart_swa(refill.row, static_cast<int32_t>(n), past + 1));
    }
  }
  ALISA_ASSERT(static_cast<int64_t>(ids.size()) <= max_refill_tokens(), "refills of ", ids.size(),
               " tokens in one step");
  const int64_t n_ids = static_cast<int64_t>(ids.size());
  copy_host_to_device(lane_ids_.slice(0, 0, n_ids), ids.data());
  copy_host_to_device(lane_positions_.slice(0, 0, n_ids), positions.data());
  if (!plans.empty()) {
    copy_host_to_device(lane_sequences_.slice(0, 0, static_cast<int64_t>(plans.size())),
                        plans.data());
  }
}

int64_t BlockRunner::run_lanes(int64_t unit, const LayerWeights& w, int64_t past) {
  const auto [j, k, s] = unit_position(shape_, unit);
  const int64_t b = shape_.gpu_batch_size;
  int64_t first = past;
  int64_t tokens = 0;
  Event* start = nullptr;
  for (size_t i = 0; i < lanes_.size(); ++i) {
    const RefillLane& lane = lanes_[i];
    if (lane.row / b != k) continue;
    if (start == nullptr) start = &copies_.begin(Queue::kCompute);
    const int64_t r = lane.row % b;
    const StepBatch step{
        .batch = 1,
        .n_new = lane.n,
        .past = lane.first,
        .prefill = true,
        .token_ids = lane_ids_.slice(0, lane.offset, lane.offset + lane.n),
        .position_ids = lane_positions_.slice(0, lane.offset, lane.offset + lane.n),
        .key_mask = inputs_[static_cast<size_t>(k)].key_mask.slice(0, r, r + 1)};
    const Tensor hidden = lane_hidden_.slice(0, lane.offset, lane.offset + lane.n);
    if (j == 0) program_.embed(weights_.globals(), step, scratch_, hidden, ops_);
    const Tensor plan = kv_.swa_enabled() ? lane_sequences_.slice(0, static_cast<int64_t>(i),
                                                                  static_cast<int64_t>(i) + 1)
                                          : Tensor{};
    program_.layer(w, kv_.lane_view(unit, s, past, r, plan), step, scratch_, hidden, ops_);
    if (j == spec_.n_layers - 1) {  // the prompt's first token, in the row's logits
      const Tensor row = head_rows_.slice(0, 0, 1);
      ops_.copy(hidden.slice(0, lane.n - 1, lane.n), row);
      program_.head(weights_.globals(), row, scratch_,
                    logits_staging_.empty() ? Tensor{} : logits_staging_.slice(0, 0, 1),
                    logits_.slice(0, lane.row, lane.row + 1), ops_);
    }
    first = std::min(first, lane.first);
    tokens += lane.n;
  }
  if (start == nullptr) return past;
  kv_.end_lanes(unit, s, past, first, tokens, ops_, copies_);
  slots_[s].computed =
      &copies_.end(Queue::kCompute, *start, str("layer ", j, " batch ", k, " refills"));
  return first;
}

}  // namespace alisa
