// BlockRunner: the offloading schedule. A block of gpu_batch_size * num_gpu_batches sequences
// goes through the decoder layer by layer; within a layer, GPU batch by GPU batch, so one load of
// a layer's weights serves the whole block (FlexGen's zig-zag block schedule). While (layer j,
// batch k) computes, the weights of the next layer with tensors off the GPU stream in on their
// queue, the cache and hidden states of the next (layer, batch) on another, and those of the
// previous one go back on a third; every wait is on an event of the slot it reuses, never on the
// whole device. The weights stream through WeightStream, the cache is KvCache's; the runner
// keeps the hidden states, the step's inputs, the head and sampling. With cpu_attention, a
// CPU-resident cache is attended on the CPU where it lies (decode steps): only the step's
// queries, keys, values and the attention output cross the link.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "runtime/program/decoder_program.h"
#include "runtime/program/swa.h"
#include "runtime/schedule/block_shape.h"
#include "runtime/schedule/kv_cache.h"
#include "runtime/schedule/weight_store.h"
#include "runtime/schedule/weight_stream.h"
#include "runtime/tiers/homed_buffer.h"

namespace alisa {

// Continuous batching: a finished sequence's row takes a new prompt inside a decode step. The
// prompt is prefilled in a lane of its own (per layer, after the GPU batch's decode unit, on the
// same weights) into the row's cache at indices [past + 1 - size, past + 1), under the block's
// write index, so the row decodes on with the others; its first token comes from that step's
// logits.
struct RowRefill {
  int64_t row = 0;
  std::span<const int32_t> prompt;
};

class BlockRunner {
 public:
  // cpu_ops: the CPU's ops, for cpu_attention (may be null when the policy does not ask for it).
  // refill: allocate the refill lanes (continuous batching), where the policy serves it.
  BlockRunner(const ModelSpec& spec, const WeightStore& weights, Ops& ops, Ops* cpu_ops,
              const Tiers& tiers, CopyEngine& copies, const Policy& policy, const BlockShape& shape,
              const SwaOptions& swa, bool refill);
  ~BlockRunner();
  BlockRunner(const BlockRunner&) = delete;
  BlockRunner& operator=(const BlockRunner&) = delete;

  const BlockShape& shape() const { return shape_; }
  // Phase III: positions of CPU-resident caches kept as input hidden states (0: none); the
  // prompt step must cover them.
  int64_t kept_positions() const { return kv_.kept_positions(); }
  // Starts a new block of sequences (the cache is reused).
  void reset();
  // The cache index the next step writes (the block's length so far).
  int64_t length() const { return length_; }
  // Appends n_new tokens to every sequence of the block: token_ids and new_mask are
  // [block_size, n_new] (row major); new_mask 0 marks left padding. Positions follow Hugging
  // Face. Leaves the logits of each sequence's last token. `refills` (decode steps only: n_new 1
  // after a prompt step) replace rows' sequences with new prompts (RowRefill); their rows' own
  // inputs this step are ignored.
  void step(std::span<const int32_t> token_ids, std::span<const uint8_t> new_mask, int64_t n_new,
            std::span<const RowRefill> refills = {});
  // Whether step() takes refills: made with refill lanes, the policy serving them
  // (refill_unsupported, policy/policy.h).
  bool has_refill_lanes() const { return !lane_ids_.empty(); }
  // Whether a prompt of n tokens can refill a row at the next step: it must end under the write
  // index, above Phase III's kept positions, and fit a lane.
  bool refill_fits(int64_t n) const;
  // Most prompt tokens the refills of one step may hold together.
  int64_t max_refill_tokens() const { return shape_.gpu_batch_size * shape_.max_step_tokens; }
  // [block_size, vocab] f32.
  std::vector<float> logits_to_host() const;
  std::vector<int32_t> sample(const SamplingSettings& settings, std::span<const uint64_t> rng_keys,
                              uint64_t step);
  // Rows [first, first + rng_keys.size()) only: sequences of one block with their own settings.
  std::vector<int32_t> sample_rows(const SamplingSettings& settings,
                                   std::span<const uint64_t> rng_keys, uint64_t step,
                                   int64_t first);

 private:
  struct BatchInputs {
    Tensor token_ids;                // [b * max_step_tokens] i32
    Tensor position_ids;             // [b * max_step_tokens] i32
    Tensor key_mask;                 // [b, capacity] u8
    std::vector<uint8_t> mask_host;  // [b, capacity]
  };
  struct SlotEvents {
    Event* ready = nullptr;     // its loads are done
    Event* computed = nullptr;  // its last compute is done
    Event* stored = nullptr;    // its stores are done
  };

  Tensor hidden_view(int64_t k, int slot, int64_t n_new) const;
  size_t hidden_bytes(int64_t n_new) const;  // one GPU batch's hidden states of a step

  // Queues the loads of a unit's slot (its cache, its hidden states) one unit ahead.
  void prefetch(int64_t unit, int64_t n_new, int64_t past);
  StepBatch step_batch(int64_t k, int64_t n_new, int64_t past) const;
  // Waits for the unit's slot, starts its compute span and, at layer 0, embeds its tokens.
  Event& begin_unit(int64_t unit, const StepBatch& step, const Tensor& hidden);
  void compute(int64_t unit, const LayerWeights& w, int64_t n_new, int64_t past);
  // Stores the unit's cache tokens [from, past + n_new) (from < past when lanes wrote there).
  void store(int64_t unit, int64_t n_new, int64_t past, int64_t from);
  // Refill lanes (refill.cpp): the step's refills checked, their rows' masks, positions and SWA
  // plans set, their inputs uploaded; then, per unit, the lanes of its GPU batch. run_lanes
  // returns the first cache index they wrote (past when none).
  void set_up_lanes(std::span<const RowRefill> refills, int64_t past);
  int64_t run_lanes(int64_t unit, const LayerWeights& w, int64_t past);
  void allocate_lanes();
  // Waits for the slot's disk writes; rethrows the first that failed.
  void finish_disk_writes(int slot);
  // CPU attention (cpu_attention.cpp), pipelined across the GPU batches of a layer: the GPU
  // computes the queries of the next unit while the CPU attends this one.
  void compute_with_cpu_attention(int64_t unit, const LayerWeights& w, int64_t n_new, int64_t past);
  void queue_qkv(int64_t unit, const LayerWeights& w, int64_t n_new, int64_t past);
  void attend_on_cpu(int64_t unit, const StepBatch& step);
  void head(int64_t k, const Tensor& hidden, int64_t n_new);

  const ModelSpec& spec_;
  const WeightStore& weights_;
  Ops& ops_;
  Ops* cpu_ops_;
  Tiers tiers_;
  CopyEngine& copies_;
  BlockShape shape_;
  DecoderProgram program_;

  std::vector<Buffer> buffers_;
  WeightStream weight_stream_;
  KvCache kv_;
  std::unique_ptr<OffloadRegions> hidden_disk_;  // disk-homed hidden states
  std::vector<HomedBuffer> hidden_;  // [num_gpu_batches], each [b * max_step_tokens, hidden]
  std::vector<BatchInputs> inputs_;  // [num_gpu_batches]
  void* hidden_slot_[2] = {};
  void* disk_staging_ = nullptr;  // host bytes of one KV unit or hidden buffer, for loads
  // Per unit slot: host bytes of a unit's K, V and hidden states on their way to disk, and the
  // writes still using them.
  void* disk_store_staging_[2] = {};
  std::vector<std::shared_future<void>> disk_writes_[2];
  SlotEvents slots_[2];
  std::vector<Event*> hidden_stored_;  // [num_gpu_batches]
  DecoderScratch scratch_;
  // cpu_attention: q, k, v and attention of a unit on the CPU tier, two sets (by unit % 2) so
  // the GPU fills one while the CPU attends the other.
  DecoderScratch host_scratch_[2];
  Event* qkv_exported_[2] = {};   // the unit's q, k, v are in its host set
  int64_t qkv_queued_unit_ = -1;  // a unit whose queries were queued ahead of its turn
  Tensor head_rows_;              // [b, hidden]
  Tensor logits_;                 // [block_size, vocab] f32
  Tensor logits_staging_;         // [b, vocab] in the activation dtype (when that is not f32)
  Tensor rng_keys_;               // [block_size] u64
  Tensor sampled_;                // [block_size] i32

  // Refill lanes, allocated with the runner (made for refill): the step's lanes, their token ids,
  // positions, hidden states and SWA plans packed one after the other. They compute in the block's
  // scratch: a unit's lanes follow its compute on the compute queue, and with CPU attention the
  // next unit's queries, keys and values have left the scratch for the CPU (copies queued before).
  struct RefillLane {
    int64_t row = 0, first = 0, n = 0;  // the row, its prompt's cache indices [first, first + n)
    int64_t offset = 0;                 // into the packed inputs and hidden states
  };
  std::vector<RefillLane> lanes_;
  Tensor lane_ids_, lane_positions_;  // [max_refill_tokens()] i32
  Tensor lane_hidden_;                // [max_refill_tokens(), hidden]
  Tensor lane_sequences_;             // [block_size, kSwaSequenceFields] i32 (SWA)

  std::vector<int32_t> n_real_tokens_;  // [block_size]
  int64_t length_ = 0;
};

}  // namespace alisa
