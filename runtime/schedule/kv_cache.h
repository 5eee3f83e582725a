// KvCache: the one owner of a block's KV cache. For every unit (layer, GPU batch) it knows where
// its tokens live (the home tier by policy/placement.h's rule, int8 or dense, Phase III's kept
// hidden states), decides once how a step reaches them (KvAccess), loads and stores them through
// the two compute slots, hands out the views attention reads, and holds Sparse Window
// Attention's state and per-step plan.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "runtime/program/decoder_program.h"
#include "runtime/program/kv_layout.h"
#include "runtime/program/swa.h"
#include "runtime/schedule/block_shape.h"
#include "runtime/tiers/homed_buffer.h"

namespace alisa {

// How one step reaches a unit's cache.
enum class KvAccess : uint8_t {
  kResident,    // home on the compute device: attended where it lies
  kSlot,        // tokens [0, past) loaded into a compute slot, the step's tokens stored back
  kCpuAttends,  // cpu_attention decode step: attended on the CPU where it lies
  kInPlace,     // SWA decode step of a CPU home: the compute device reads the selected tokens
                // where they lie (mapped pinned memory); nothing is loaded or stored in bulk
};

class KvCache {
 public:
  // Allocates every unit's home (files in tiers.disk_dir for disk homes), the slots and the SWA
  // state; the Buffers go to `owner`.
  KvCache(const ModelSpec& spec, const Tiers& tiers, const Policy& policy, const BlockShape& shape,
          const SwaOptions& swa, std::vector<Buffer>& owner);

  Tier home(int64_t unit) const { return homes_[static_cast<size_t>(unit)]; }
  // Decided at construction for the prefill (past == 0) and the decode steps of each unit.
  KvAccess access(int64_t unit, int64_t past) const {
    return past > 0 ? decode_access_[static_cast<size_t>(unit)] : prefill_access(unit);
  }
  bool swa_enabled() const { return swa_.enabled(); }
  // Some unit is attended on the CPU in decode steps (cpu_attention).
  bool cpu_attention() const { return cpu_attention_; }
  // Phase III: positions [0, kept_positions()) of CPU-homed caches hold input hidden states.
  int64_t kept_positions() const { return recompute_below_; }
  // Bytes of one unit's K (or V) cache as stored; whether any unit is homed on disk (the
  // runner's disk stagings are sized by it).
  size_t unit_part_bytes() const { return layout_.stored_bytes(); }
  bool any_on_disk() const { return disk_ != nullptr; }

  // kSlot units. Queues on kCacheIn the load of tokens [0, past) into `slot`; returns the bytes.
  // Disk homes read through `staging` (host memory of unit_part_bytes()).
  uint64_t load(int64_t unit, int slot, int64_t past, CopyEngine& copies, void* staging) const;
  // Queues on kCacheOut the store of the step's tokens [past, past + n_new) from `slot`; disk
  // homes go through staging_k / staging_v (unit_part_bytes() each) and add their writes to
  // `writes`. Returns the bytes.
  uint64_t store(int64_t unit, int slot, int64_t past, int64_t n_new, CopyEngine& copies,
                 char* staging_k, char* staging_v, std::vector<std::shared_future<void>>& writes);

  // The unit's cache as the compute device attends it this step (dense views, SWA state with
  // the compute scratch, Phase III's recompute with `w`). Phase III units first keep the step's
  // input hidden states below kept_positions() (`hidden`: [b * n_new, hidden]).
  KvLayerView begin_compute(int64_t unit, int slot, int64_t past, int64_t n_new,
                            const Tensor& hidden, const LayerWeights& w, Ops& ops,
                            CopyEngine& copies) const;
  // After the layer: an int8 cache quantises the step's tokens into the stored form; in-place
  // reads are counted on the links.
  void end_compute(int64_t unit, int slot, int64_t past, int64_t n_new, Ops& ops,
                   CopyEngine& copies) const;
  // The same for a kCpuAttends unit, attended with the CPU's ops.
  KvLayerView begin_cpu_attention(int64_t unit, int64_t past, Ops& cpu_ops) const;
  void end_cpu_attention(int64_t unit, int64_t past, int64_t n_new, Ops& cpu_ops) const;

  // Refill lanes (BlockRunner): after a decode step's compute of `unit` (its slot still holding
  // it), the cache of its row `row` as the compute device writes and attends a prompt prefilled
  // at indices ending at `past` (CPU homes through mapped memory; an int8 cache in its dequantised
  // copy). `sequence`: the prompt's SwaSequence on the compute device, [1, kSwaSequenceFields].
  KvLayerView lane_view(int64_t unit, int slot, int64_t past, int64_t row,
                        const Tensor& sequence) const;
  // After the unit's lanes: an int8 cache quantises tokens [first, past + 1) again (every row:
  // the other rows' tokens requantise to the bytes they had, bitwise on the CPU); writes through
  // mapped memory are
  // counted on the link (`lane_tokens`: the lanes' tokens).
  void end_lanes(int64_t unit, int slot, int64_t past, int64_t first, int64_t lane_tokens, Ops& ops,
                 CopyEngine& copies) const;

  // SWA: the step's plan of every sequence of the block (n_real: real tokens per sequence after
  // the step; new_mask: [block_size, n_new]), to the device that attends each unit.
  void plan_swa(std::span<const int32_t> n_real, std::span<const uint8_t> new_mask, int64_t n_new,
                int64_t past);
  // SWA: a refill's prompt of n_real tokens ending at cache index length - 1 takes sequence
  // `seq`'s place; returns the prompt's prefill plan (after plan_swa of the step).
  SwaSequence restart_swa(int64_t seq, int32_t n_real, int64_t length);

 private:
  struct Unit {
    HomedBuffer k, v;    // each laid out by layout_ (Phase III homes from recompute_below_ on)
    HomedBuffer kept;    // Phase III: [recompute_below_, b, hidden] input hidden states
    bool keeps = false;  // Phase III home
  };
  struct SwaBatch {    // the step's SwaSequence per sequence of one GPU batch
    Tensor sequences;  // on the compute device
    std::vector<SwaSequence> host;
  };

  KvAccess prefill_access(int64_t unit) const {
    return home(unit) == Tier::kCompute ? KvAccess::kResident : KvAccess::kSlot;
  }
  // Where the unit's stored K (or V) is addressed as a whole cache: Phase III homes store only
  // positions [recompute_below_, capacity), so their views start that many tokens earlier.
  void* home_cache(const HomedBuffer& buffer, int64_t unit) const;
  Tensor kv_view(void* data, Device* device) const;  // [b, capacity, n_kv_heads, head_dim]
  // The cache as attention reads it: `stored` itself when dense, else tokens [0, past)
  // dequantised into `dense`.
  Tensor dense_kv(void* stored, void* dense, int64_t past, Ops& ops, Device* device) const;
  Tensor kept_hidden(int64_t unit) const;  // [b, recompute_below_, hidden] on the compute device
  SwaState swa_state(int64_t unit, bool on_cpu) const;
  void count_in_place_bytes(int64_t batch, int64_t past, int64_t n_new, CopyEngine& copies) const;

  const ModelSpec& spec_;
  Tiers tiers_;
  BlockShape shape_;
  SwaOptions swa_;
  KvLayout layout_;
  std::vector<Tier> homes_;              // per unit
  std::vector<KvAccess> decode_access_;  // per unit
  bool cpu_attention_ = false;
  std::unique_ptr<OffloadRegions> disk_;  // disk homes
  std::vector<Unit> units_;
  void* slot_k_[2] = {};  // stored form
  void* slot_v_[2] = {};
  void* dense_[2] = {};       // int8 cache: K and V dequantised for the unit computing
  void* host_dense_[2] = {};  // the same on the CPU tier, for cpu_attention

  // Sparse Window Attention: per unit, the state on the device that attends it (the CPU tier for
  // cpu_attention units); the scratch of the compute device and of the CPU; the step's plan.
  std::vector<SwaState> swa_units_;
  SwaState swa_scratch_, host_swa_scratch_;
  SwaPlanner swa_planner_;
  std::vector<SwaBatch> swa_batches_;  // [num_gpu_batches]
  // Phase III: positions [0, recompute_below_) of CPU homes hold input hidden states;
  // recompute_ holds the compute device's scratch.
  int64_t recompute_below_ = 0;
  KvRecompute recompute_;
};

}  // namespace alisa
