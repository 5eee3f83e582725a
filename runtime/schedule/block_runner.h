// BlockRunner: the offloading schedule. A block of gpu_batch_size * num_gpu_batches sequences
// goes through the decoder layer by layer; within a layer, GPU batch by GPU batch, so one load of
// a layer's weights serves the whole block (FlexGen's zig-zag block schedule). While (layer j,
// batch k) computes, the weights of the next layer with tensors off the GPU stream in on their
// queue, the cache and hidden states of the next (layer, batch) on another, and those of the
// previous one go back on a third; every wait is on an event of the slot it reuses, never on the
// whole device. With cpu_attention, a CPU-resident cache is attended on the CPU where it lies
// (decode steps): only the step's queries, keys, values and the attention output cross the link.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <span>
#include <vector>

#include "policy/policy.h"
#include "runtime/program/decoder_program.h"
#include "runtime/program/kv_layout.h"
#include "runtime/program/swa.h"
#include "runtime/schedule/weight_store.h"
#include "runtime/tiers/homed_buffer.h"

namespace alisa {

struct BlockShape {
  int64_t gpu_batch_size = 1;
  int64_t num_gpu_batches = 1;
  int64_t capacity = 1;         // cache tokens per sequence (prompt + generated)
  int64_t max_step_tokens = 1;  // per sequence in one call (the padded prompt length)
  DType activation_dtype = DType::kF32;
  int64_t block_size() const { return gpu_batch_size * num_gpu_batches; }
};

class BlockRunner {
 public:
  // cpu_ops: the CPU's ops, for cpu_attention (may be null when the policy does not ask for it).
  BlockRunner(const ModelSpec& spec, const WeightStore& weights, Ops& ops, Ops* cpu_ops,
              const Tiers& tiers, CopyEngine& copies, const Policy& policy, const BlockShape& shape,
              const SwaOptions& swa = {});
  ~BlockRunner();
  BlockRunner(const BlockRunner&) = delete;
  BlockRunner& operator=(const BlockRunner&) = delete;

  const BlockShape& shape() const { return shape_; }
  // Phase III: positions of CPU-resident caches kept as input hidden states (0: none); the
  // prompt step must cover them.
  int64_t kept_positions() const { return recompute_below_; }
  // Starts a new block of sequences (the cache is reused).
  void reset();
  // Appends n_new tokens to every sequence of the block: token_ids and new_mask are
  // [block_size, n_new] (row major); new_mask 0 marks left padding. Positions follow Hugging
  // Face. Leaves the logits of each sequence's last token.
  void step(std::span<const int32_t> token_ids, std::span<const uint8_t> new_mask, int64_t n_new);
  // [block_size, vocab] f32.
  std::vector<float> logits_to_host() const;
  std::vector<int32_t> sample(const SamplingSettings& settings, std::span<const uint64_t> rng_keys,
                              uint64_t step);

 private:
  struct KvUnit {
    HomedBuffer k, v;  // each laid out by kv_layout_
  };
  struct BatchInputs {
    Tensor token_ids;                // [b * max_step_tokens] i32
    Tensor position_ids;             // [b * max_step_tokens] i32
    Tensor key_mask;                 // [b, capacity] u8
    std::vector<uint8_t> mask_host;  // [b, capacity]
    // SWA: the step's SwaSequence per sequence, on the compute device and on the host.
    Tensor swa_sequences;
    std::vector<SwaSequence> swa_host;
  };
  struct SlotEvents {
    Event* ready = nullptr;     // its loads are done
    Event* computed = nullptr;  // its last compute is done
    Event* stored = nullptr;    // its stores are done
  };

  bool cpu_attends(int64_t unit, int64_t past) const;
  bool kv_in_slot(int64_t unit, int64_t past) const;
  // SWA decode over a CPU-resident cache attended by the GPU: it reads the selected tokens where
  // they lie (mapped pinned memory), so nothing is loaded or stored in bulk.
  bool swa_reads_in_place(int64_t unit, int64_t past) const;
  // Phase III: the unit's oldest recompute_below_ positions keep input hidden states, not K/V.
  bool keeps_hidden(int64_t unit) const;
  // Where the unit's home K (or V) storage is addressed as a whole cache: Phase III units store
  // only positions [recompute_below_, capacity), so their views start that many tokens earlier.
  void* home_cache(const HomedBuffer& buffer, int64_t unit) const;
  // The unit's kept hidden states [b, recompute_below_, hidden] as the compute device reads them.
  Tensor kept_hidden(int64_t unit) const;
  // Counts on the links what a step's in-place SWA read and write of GPU batch k moved.
  void count_in_place_bytes(int64_t k, int64_t past, int64_t n_new);
  // The unit's SWA state with the scratch of the device that attends it (inactive without SWA).
  SwaState swa_state(int64_t unit, bool on_cpu) const;
  Tensor kv_view(void* data, Device* device) const;  // [b, capacity, n_kv_heads, head_dim]
  // The unit's cache as attention reads it (dense), `stored` being the K or V cache where the
  // compute works on it: itself when dense, else tokens [0, past) dequantised into `dense`.
  Tensor dense_kv(void* stored, void* dense, int64_t past, Ops& ops, Device* device) const;
  Tensor hidden_view(int64_t k, int slot, int64_t n_new) const;
  size_t hidden_bytes(int64_t n_new) const;  // one GPU batch's hidden states of a step
  // A CPU-tier tensor as the compute device addresses it (mapped host memory).
  Tensor mapped(const Tensor& host) const;

  // The step's SWA plan of every sequence, to the compute device.
  void plan_swa(std::span<const uint8_t> new_mask, int64_t n_new, int64_t past);
  // Weights stream through two slots taken in turn by the layers with tensors off the compute
  // device (streamed_layers_): the r-th of them loads once the (r - 2)-th, its slot's previous
  // user, is queued to compute, so a load hides under every layer in between, however unevenly
  // the placement spreads those layers. Disk reads run one streamed layer ahead of the loads.
  // Queues every load (and read) that may go before layer j computes.
  void queue_weight_loads(int64_t j);
  void load_weights(size_t r);  // the r-th streamed layer
  void read_weights_from_disk(size_t r);
  int weight_slot_of(int64_t j) const;  // -1 for a layer resident on the compute device
  // Layer j's weights on the compute device (its load complete): where they lie, in its weight
  // slot, or dequantised (queued on the compute queue) into the dense slot.
  LayerWeights layer_weights(int64_t j);
  void prefetch(int64_t unit, int64_t n_new, int64_t past);
  struct UnitPosition {
    int64_t layer = 0, batch = 0;
    int slot = 0;  // of the two unit slots
  };
  UnitPosition position(int64_t unit) const;
  StepBatch step_batch(int64_t k, int64_t n_new, int64_t past) const;
  // Waits for the unit's slot, starts its compute span and, at layer 0, embeds its tokens.
  Event& begin_unit(int64_t unit, const StepBatch& step, const Tensor& hidden);
  void compute(int64_t unit, const LayerWeights& w, int64_t n_new, int64_t past);
  void store(int64_t unit, int64_t n_new, int64_t past);
  // Waits for the slot's disk writes; rethrows the first that failed.
  void finish_disk_writes(int slot);
  // CPU attention, pipelined across the GPU batches of a layer: the GPU computes the queries of
  // the next unit while the CPU attends this one.
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
  Policy policy_;
  BlockShape shape_;
  DecoderProgram program_;

  std::vector<Buffer> buffers_;
  std::vector<std::unique_ptr<DiskFile>> files_;
  std::vector<KvUnit> kv_;           // [n_layers * num_gpu_batches]
  std::vector<HomedBuffer> hidden_;  // [num_gpu_batches], each [b * max_step_tokens, hidden]
  std::vector<BatchInputs> inputs_;  // [num_gpu_batches]
  std::vector<int64_t> streamed_layers_;
  std::vector<int> weight_slot_of_;       // per layer
  size_t next_load_ = 0, next_read_ = 0;  // of streamed_layers_, in this step
  void* weight_slot_[2] = {};
  void* weight_staging_[2] = {};
  void* dense_weight_slot_ = nullptr;
  std::vector<std::future<void>> weight_reads_[2];
  Event* weights_ready_[2] = {};
  Event* layer_done_[2] = {};
  KvLayout kv_layout_;
  void* kv_slot_k_[2] = {};  // stored form
  void* kv_slot_v_[2] = {};
  void* dense_kv_[2] = {};       // int8 cache: K and V dequantised for the unit computing
  void* host_dense_kv_[2] = {};  // the same on the CPU tier, for cpu_attention
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

  // Sparse Window Attention: per unit, the state on the device that attends it (the CPU tier for
  // cpu_attention units); the scratch of the compute device and of the CPU.
  SwaOptions swa_;
  std::vector<SwaState> swa_units_;
  SwaState swa_scratch_, host_swa_scratch_;
  SwaPlanner swa_planner_;
  // Phase III: positions [0, recompute_below_) of CPU-resident caches hold input hidden states
  // (kept_hidden_, per unit); recompute_ holds the compute device's scratch.
  int64_t recompute_below_ = 0;
  std::vector<HomedBuffer> kept_hidden_;
  KvRecompute recompute_;

  std::vector<int32_t> n_real_tokens_;  // [block_size]
  int64_t length_ = 0;
};

}  // namespace alisa
