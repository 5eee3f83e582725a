#include "runtime/schedule/block_runner.h"

#include <algorithm>

#include "runtime/core/owned_buffers.h"
#include "runtime/schedule/sampling.h"

namespace alisa {

BlockRunner::BlockRunner(const ModelSpec& spec, const WeightStore& weights, Ops& ops, Ops* cpu_ops,
                         const Tiers& tiers, CopyEngine& copies, const Policy& policy,
                         const BlockShape& shape, const SwaOptions& swa, bool refill)
    : spec_(spec),
      weights_(weights),
      ops_(ops),
      cpu_ops_(cpu_ops),
      tiers_(tiers),
      copies_(copies),
      shape_(shape),
      program_(spec),
      weight_stream_(weights, spec.n_layers, tiers, copies, buffers_),
      kv_(spec, tiers, policy, shape, swa, buffers_) {
  const int64_t b = shape.gpu_batch_size;
  const int64_t n_batches = shape.num_gpu_batches;
  const int64_t block = shape.block_size();
  const int64_t max_tokens = b * shape.max_step_tokens;
  const DType act = shape.activation_dtype;
  Device& compute = *tiers.compute;

  // Hidden states, homed by the policy's activation percentages.
  const size_t hidden_buffer_bytes = hidden_bytes(shape.max_step_tokens);
  const std::vector<Tier> homes = hidden_homes(policy);
  if (const int64_t n = count_on(homes, Tier::kDisk); n > 0) {
    hidden_disk_ =
        std::make_unique<OffloadRegions>(tiers.disk_dir, "activations", n, hidden_buffer_bytes);
  }
  hidden_.resize(static_cast<size_t>(n_batches));
  for (int64_t k = 0; k < n_batches; ++k) {
    hidden_[k] = HomedBuffer(homes[static_cast<size_t>(k)], hidden_buffer_bytes, tiers,
                             hidden_disk_.get(), "hidden states");
  }
  if (count_on(homes, Tier::kCompute) < n_batches) {
    for (void*& slot : hidden_slot_)
      slot = owned_bytes(buffers_, compute, hidden_buffer_bytes, "hidden state slot");
  }
  if (kv_.any_on_disk() || hidden_disk_ != nullptr) {
    const size_t kv_bytes = kv_.unit_part_bytes();
    disk_staging_ =
        owned_bytes(buffers_, *tiers.cpu, std::max(kv_bytes, hidden_buffer_bytes), "disk staging");
    // Stores go to disk in the background: each slot stages its K, V and hidden states apart.
    for (void*& staging : disk_store_staging_) {
      staging = owned_bytes(buffers_, *tiers.cpu, 2 * kv_bytes + hidden_buffer_bytes,
                            "disk store staging");
    }
  }
  hidden_stored_.assign(static_cast<size_t>(n_batches), nullptr);

  inputs_.resize(static_cast<size_t>(n_batches));
  for (BatchInputs& in : inputs_) {
    in.token_ids = owned_tensor(buffers_, compute, DType::kI32, {max_tokens}, "token ids");
    in.position_ids = owned_tensor(buffers_, compute, DType::kI32, {max_tokens}, "position ids");
    in.key_mask = owned_tensor(buffers_, compute, DType::kU8, {b, shape.capacity}, "key mask");
    in.mask_host.assign(static_cast<size_t>(b * shape.capacity), 0);
  }
  scratch_ = program_.allocate_scratch(compute, act, max_tokens, buffers_);
  if (kv_.cpu_attention()) {
    ALISA_ASSERT(cpu_ops != nullptr, "cpu_attention without CPU ops");
    // Decode steps only: one new token per sequence.
    for (DecoderScratch& host : host_scratch_) {
      host.max_tokens = b;
      host.q = owned_tensor(buffers_, *tiers.cpu, act, {b, spec.q_dim()}, "CPU attention queries");
      host.k = owned_tensor(buffers_, *tiers.cpu, act, {b, spec.kv_dim()}, "CPU attention keys");
      host.v = owned_tensor(buffers_, *tiers.cpu, act, {b, spec.kv_dim()}, "CPU attention values");
      host.attention =
          owned_tensor(buffers_, *tiers.cpu, act, {b, spec.q_dim()}, "CPU attention output");
    }
  }
  head_rows_ = owned_tensor(buffers_, compute, act, {b, spec.hidden_size}, "head rows");
  logits_ = owned_tensor(buffers_, compute, DType::kF32, {block, spec.vocab_size}, "logits");
  if (act != DType::kF32)
    logits_staging_ = owned_tensor(buffers_, compute, act, {b, spec.vocab_size}, "logits");
  rng_keys_ = owned_tensor(buffers_, compute, DType::kI64, {block}, "sampling keys");
  sampled_ = owned_tensor(buffers_, compute, DType::kI32, {block}, "sampled tokens");
  n_real_tokens_.assign(static_cast<size_t>(block), 0);
  // With the rest, so that the memory plan (block_memory_plan with refill) counts them up front.
  if (refill && refill_unsupported(policy).empty()) allocate_lanes();
}

BlockRunner::~BlockRunner() {
  // Queued copies and disk writes may still read or write these buffers.
  try {
    tiers_.compute->synchronize();
  } catch (...) {
  }
  for (std::vector<std::shared_future<void>>& writes : disk_writes_) {
    for (std::shared_future<void>& write : writes) write.wait();
  }
}

void BlockRunner::finish_disk_writes(int slot) {
  std::vector<std::shared_future<void>> writes = std::move(disk_writes_[slot]);
  disk_writes_[slot].clear();
  for (std::shared_future<void>& write : writes) write.get();  // rethrows a failed write
}

void BlockRunner::reset() {
  length_ = 0;
  std::fill(n_real_tokens_.begin(), n_real_tokens_.end(), 0);
  for (BatchInputs& in : inputs_) std::fill(in.mask_host.begin(), in.mask_host.end(), uint8_t{0});
}

Tensor BlockRunner::hidden_view(int64_t k, int slot, int64_t n_new) const {
  const HomedBuffer& home = hidden_[static_cast<size_t>(k)];
  void* data = home.home() == Tier::kCompute ? home.data() : hidden_slot_[slot];
  return Tensor(data, tiers_.compute, shape_.activation_dtype,
                {shape_.gpu_batch_size * n_new, spec_.hidden_size});
}

size_t BlockRunner::hidden_bytes(int64_t n_new) const {
  return static_cast<size_t>(shape_.gpu_batch_size * n_new * spec_.hidden_size) *
         dtype_size(shape_.activation_dtype);
}

void BlockRunner::prefetch(int64_t unit, int64_t n_new, int64_t past) {
  if (unit >= spec_.n_layers * shape_.num_gpu_batches) return;
  const auto [j, k, s] = unit_position(shape_, unit);
  SlotEvents& slot = slots_[s];
  const bool kv_in_slot = kv_.access(unit, past) == KvAccess::kSlot;
  const bool uses_slot = kv_in_slot || hidden_[k].home() != Tier::kCompute;
  const bool load_kv = kv_in_slot && past > 0;
  const bool load_hidden = hidden_[k].home() != Tier::kCompute && j > 0;
  if (!load_kv && !load_hidden) {
    // Nothing to bring in, but the compute must not overwrite what the slot's previous unit
    // is still storing from it.
    slot.ready = uses_slot ? slot.stored : nullptr;
    return;
  }
  // The slot's previous unit must be computed and stored; the hidden states stored by layer j - 1.
  if (slot.computed != nullptr) copies_.wait(Queue::kCacheIn, *slot.computed);
  if (slot.stored != nullptr) copies_.wait(Queue::kCacheIn, *slot.stored);
  if (load_hidden && hidden_stored_[k] != nullptr) {
    copies_.wait(Queue::kCacheIn, *hidden_stored_[k]);
  }
  Event& start = copies_.begin(Queue::kCacheIn);
  uint64_t bytes = 0;
  if (load_kv) bytes += kv_.load(unit, s, past, copies_, disk_staging_);
  if (load_hidden) {
    const size_t n = hidden_bytes(n_new);
    hidden_[k].load(0, n, hidden_slot_[s], Queue::kCacheIn, copies_, disk_staging_);
    bytes += n;
  }
  slot.ready =
      &copies_.end(Queue::kCacheIn, start, str("layer ", j, " batch ", k, " cache in"), bytes);
}

StepBatch BlockRunner::step_batch(int64_t k, int64_t n_new, int64_t past) const {
  const int64_t b = shape_.gpu_batch_size;
  const BatchInputs& in = inputs_[static_cast<size_t>(k)];
  return {.batch = b,
          .n_new = n_new,
          .past = past,
          .prefill = past == 0,
          .token_ids = in.token_ids.slice(0, 0, b * n_new),
          .position_ids = in.position_ids.slice(0, 0, b * n_new),
          .key_mask = in.key_mask};
}

Event& BlockRunner::begin_unit(int64_t unit, const StepBatch& step, const Tensor& hidden) {
  const UnitPosition at = unit_position(shape_, unit);
  if (slots_[at.slot].ready != nullptr) copies_.wait(Queue::kCompute, *slots_[at.slot].ready);
  Event& start = copies_.begin(Queue::kCompute);
  if (at.layer == 0) program_.embed(weights_.globals(), step, scratch_, hidden, ops_);
  return start;
}

void BlockRunner::compute(int64_t unit, const LayerWeights& w, int64_t n_new, int64_t past) {
  if (kv_.access(unit, past) == KvAccess::kCpuAttends) {
    compute_with_cpu_attention(unit, w, n_new, past);
    return;
  }
  const auto [j, k, s] = unit_position(shape_, unit);
  const StepBatch step = step_batch(k, n_new, past);
  const Tensor hidden = hidden_view(k, s, n_new);
  Event& start = begin_unit(unit, step, hidden);
  const KvLayerView cache = kv_.begin_compute(unit, s, past, n_new, hidden, w, ops_, copies_);
  program_.layer(w, cache, step, scratch_, hidden, ops_);
  kv_.end_compute(unit, s, past, n_new, ops_, copies_);
  if (j == spec_.n_layers - 1) head(k, hidden, n_new);
  slots_[s].computed = &copies_.end(Queue::kCompute, start, str("layer ", j, " batch ", k));
}

void BlockRunner::store(int64_t unit, int64_t n_new, int64_t past, int64_t from) {
  const auto [j, k, s] = unit_position(shape_, unit);
  SlotEvents& slot = slots_[s];  // slot.stored keeps an older store when this unit stores nothing
  const bool store_kv = kv_.access(unit, past) == KvAccess::kSlot;
  const bool store_hidden = hidden_[k].home() != Tier::kCompute && j + 1 < spec_.n_layers;
  if (!store_kv && !store_hidden) return;
  copies_.wait(Queue::kCacheOut, *slot.computed);
  Event& start = copies_.begin(Queue::kCacheOut);
  // Disk homes stage through this slot's staging (K, V, hidden states), free once its previous
  // writes are done.
  char* staging = static_cast<char*>(disk_store_staging_[s]);
  if (staging != nullptr) finish_disk_writes(s);
  const size_t kv_bytes = kv_.unit_part_bytes();
  auto at = [&](size_t offset) { return staging == nullptr ? nullptr : staging + offset; };
  uint64_t bytes = 0;
  if (store_kv) {
    bytes += kv_.store(unit, s, from, past + n_new - from, copies_, at(0), at(kv_bytes),
                       disk_writes_[s]);
  }
  if (store_hidden) {
    const size_t n = hidden_bytes(n_new);
    std::shared_future<void> write =
        hidden_[k].store(0, n, hidden_slot_[s], Queue::kCacheOut, copies_, at(2 * kv_bytes));
    if (write.valid()) disk_writes_[s].push_back(std::move(write));
    bytes += n;
  }
  slot.stored =
      &copies_.end(Queue::kCacheOut, start, str("layer ", j, " batch ", k, " cache out"), bytes);
  if (store_hidden) hidden_stored_[k] = slot.stored;
}

void BlockRunner::head(int64_t k, const Tensor& hidden, int64_t n_new) {
  const int64_t b = shape_.gpu_batch_size;
  const Tensor last = hidden.reshape({b, n_new, spec_.hidden_size}).slice(1, n_new - 1, n_new);
  ops_.copy(last, head_rows_.reshape({b, 1, spec_.hidden_size}));
  program_.head(weights_.globals(), head_rows_, scratch_, logits_staging_,
                logits_.slice(0, k * b, (k + 1) * b), ops_);
}

void BlockRunner::step(std::span<const int32_t> token_ids, std::span<const uint8_t> new_mask,
                       int64_t n_new, std::span<const RowRefill> refills) {
  const int64_t b = shape_.gpu_batch_size;
  const int64_t n_batches = shape_.num_gpu_batches;
  const int64_t block = shape_.block_size();
  ALISA_ASSERT(n_new >= 1 && n_new <= shape_.max_step_tokens, "step of ", n_new, " tokens");
  ALISA_ASSERT(static_cast<int64_t>(token_ids.size()) == block * n_new &&
                   static_cast<int64_t>(new_mask.size()) == block * n_new,
               "step inputs");
  ALISA_ASSERT(length_ + n_new <= shape_.capacity, "cache of ", shape_.capacity, " tokens is full");
  for (int32_t id : token_ids) {
    ALISA_ASSERT(id >= 0 && id < spec_.vocab_size, "token id ", id, " outside the vocabulary");
  }
  const int64_t past = length_;

  // Inputs per GPU batch: ids, Hugging Face positions, the key mask.
  std::vector<int32_t> positions(static_cast<size_t>(b * n_new));
  for (int64_t k = 0; k < n_batches; ++k) {
    BatchInputs& in = inputs_[static_cast<size_t>(k)];
    for (int64_t s = 0; s < b; ++s) {
      const int64_t seq = k * b + s;
      for (int64_t i = 0; i < n_new; ++i) {
        const size_t at = static_cast<size_t>(seq * n_new + i);
        const bool real = new_mask[at] != 0;
        in.mask_host[static_cast<size_t>(s * shape_.capacity + past + i)] = real ? 1 : 0;
        const int32_t position = real ? n_real_tokens_[static_cast<size_t>(seq)]++ : 0;
        positions[static_cast<size_t>(s * n_new + i)] =
            position + static_cast<int32_t>(spec_.position_offset);
      }
    }
    copy_host_to_device(in.token_ids.slice(0, 0, b * n_new), token_ids.data() + k * b * n_new);
    copy_host_to_device(in.position_ids.slice(0, 0, b * n_new), positions.data());
  }
  // Refilled rows take their prompts' masks and lengths before the masks go up and SWA plans.
  lanes_.clear();
  for (const RowRefill& refill : refills) {
    ALISA_ASSERT(n_new == 1 && past > 0 && refill_fits(static_cast<int64_t>(refill.prompt.size())),
                 "refill of row ", refill.row, " with ", refill.prompt.size(),
                 " tokens at cache index ", past);
    const int64_t n = static_cast<int64_t>(refill.prompt.size());
    const int64_t first = past + 1 - n;
    uint8_t* mask = inputs_[static_cast<size_t>(refill.row / b)].mask_host.data() +
                    (refill.row % b) * shape_.capacity;
    std::fill_n(mask, shape_.capacity, uint8_t{0});
    std::fill_n(mask + first, n, uint8_t{1});
    n_real_tokens_[static_cast<size_t>(refill.row)] = static_cast<int32_t>(n);
    // The row's own decode this step is discarded; its SWA plan must start from the new prompt,
    // not the finished sequence's window (set_up_lanes restarts it again for the lane).
    if (kv_.swa_enabled()) kv_.restart_swa(refill.row, static_cast<int32_t>(n), past + 1);
  }
  for (BatchInputs& in : inputs_) copy_host_to_device(in.key_mask, in.mask_host.data());
  kv_.plan_swa(n_real_tokens_, new_mask, n_new, past);
  if (!refills.empty()) set_up_lanes(refills, past);
  ALISA_CHECK(past > 0 || n_new >= kv_.kept_positions(), "cache_recompute_percent keeps ",
              kv_.kept_positions(), " positions as hidden states but the prompt step has ", n_new);

  // The block schedule. Weight copies run one streamed layer ahead (WeightStream), their disk
  // reads one further; cache and hidden-state loads one (layer, batch) ahead.
  for (SlotEvents& slot : slots_) slot = {};
  qkv_queued_unit_ = -1;
  std::fill(hidden_stored_.begin(), hidden_stored_.end(), nullptr);
  weight_stream_.begin_step();
  prefetch(0, n_new, past);
  for (int64_t j = 0; j < spec_.n_layers; ++j) {
    const LayerWeights w = weight_stream_.layer(j, ops_);
    for (int64_t k = 0; k < n_batches; ++k) {
      // The next unit's slot (that of unit - 1, already queued to store) loads while this one
      // computes.
      const int64_t unit = j * n_batches + k;
      prefetch(unit + 1, n_new, past);
      compute(unit, w, n_new, past);
      const int64_t store_from = lanes_.empty() ? past : run_lanes(unit, w, past);
      store(unit, n_new, past, store_from);
    }
    weight_stream_.layer_queued(
        j, slots_[static_cast<int>((j * n_batches + n_batches - 1) % 2)].computed);
  }
  length_ += n_new;
  tiers_.compute->synchronize();
  for (int s = 0; s < 2; ++s) finish_disk_writes(s);  // their events are settled next
  copies_.settle();
}

std::vector<float> BlockRunner::logits_to_host() const {
  return alisa::logits_to_host(logits_);
}

std::vector<int32_t> BlockRunner::sample(const SamplingSettings& settings,
                                         std::span<const uint64_t> rng_keys, uint64_t step) {
  return alisa::sample_rows(ops_, logits_, rng_keys_, sampled_, rng_keys, step, settings);
}

std::vector<int32_t> BlockRunner::sample_rows(const SamplingSettings& settings,
                                              std::span<const uint64_t> rng_keys, uint64_t step,
                                              int64_t first) {
  const int64_t end = first + static_cast<int64_t>(rng_keys.size());
  ALISA_ASSERT(first >= 0 && end <= logits_.size(0) && end > first, "sampled rows");
  return alisa::sample_rows(ops_, logits_.slice(0, first, end), rng_keys_.slice(0, first, end),
                            sampled_.slice(0, first, end), rng_keys, step, settings);
}

}  // namespace alisa
