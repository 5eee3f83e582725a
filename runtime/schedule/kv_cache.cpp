#include "runtime/schedule/kv_cache.h"

#include <algorithm>

#include "runtime/core/owned_buffers.h"

namespace alisa {

KvCache::KvCache(const ModelSpec& spec, const Tiers& tiers, const Policy& policy,
                 const BlockShape& shape, const SwaOptions& swa, std::vector<Buffer>& owner)
    : spec_(spec),
      tiers_(tiers),
      shape_(shape),
      swa_(swa),
      layout_(shape.capacity, shape.gpu_batch_size * spec.n_kv_heads, spec.head_dim,
              shape.activation_dtype, policy.compress_cache),
      homes_(kv_unit_homes(policy, spec.n_layers * shape.num_gpu_batches)),
      swa_planner_(swa, shape.block_size()) {
  const int64_t b = shape.gpu_batch_size;
  const int64_t n_units = spec.n_layers * shape.num_gpu_batches;
  const DType act = shape.activation_dtype;
  Device& compute = *tiers.compute;
  const int64_t n_cpu_homes = count_on(homes_, Tier::kCpu);
  cpu_attention_ = policy.cpu_attention && n_cpu_homes > 0;

  if (policy.cache_recompute_percent > 0) {
    ALISA_CHECK(swa.enabled() && swa.granularity == SwaGranularity::kLayer,
                "cache_recompute_percent (Phase III) needs sparse window attention "
                "(--swa-sparsity > 0) with granularity layer");
    ALISA_CHECK(!policy.compress_cache && !policy.cpu_attention,
                "cache_recompute_percent (Phase III) does not combine with compress_cache or "
                "cpu_attention: the kept tokens' K and V are recomputed and attended on the GPU");
    ALISA_CHECK(spec.hidden_size <= 2 * spec.kv_dim(),
                "cache_recompute_percent (Phase III) would keep more bytes than it saves: a hidden "
                "state of ",
                spec.hidden_size, " values against K and V of ", 2 * spec.kv_dim(),
                " (grouped-query attention)");
    // Only CPU-resident caches keep hidden states.
    if (n_cpu_homes > 0) {
      recompute_below_ = kept_hidden_positions(policy, shape.capacity, shape.max_step_tokens);
    }
  }

  // Homes, K then V of each unit (each disk unit two regions of one file).
  const size_t part_bytes = layout_.stored_bytes();
  if (const int64_t n = count_on(homes_, Tier::kDisk); n > 0) {
    disk_ = std::make_unique<OffloadRegions>(tiers.disk_dir, "kv-cache", 2 * n, part_bytes);
  }
  const size_t kept_kv_bytes = static_cast<size_t>(recompute_below_) * layout_.part_token_bytes(0);
  const size_t hidden_row_bytes = static_cast<size_t>(b * spec.hidden_size) * dtype_size(act);
  units_.resize(static_cast<size_t>(n_units));
  decode_access_.resize(static_cast<size_t>(n_units));
  for (int64_t u = 0; u < n_units; ++u) {
    Unit& unit = units_[static_cast<size_t>(u)];
    const Tier at = home(u);
    // Phase III: a CPU home stores K and V from position recompute_below_ on, and the input
    // hidden states before it (half the bytes for multi-head attention).
    unit.keeps = recompute_below_ > 0 && at == Tier::kCpu;
    const size_t bytes = unit.keeps ? part_bytes - kept_kv_bytes : part_bytes;
    unit.k = HomedBuffer(at, bytes, tiers, disk_.get(), "KV cache");
    unit.v = HomedBuffer(at, bytes, tiers, disk_.get(), "KV cache");
    if (unit.keeps) {
      unit.kept = HomedBuffer(at, static_cast<size_t>(recompute_below_) * hidden_row_bytes, tiers,
                              nullptr, "kept hidden states (Phase III)");
    }
    KvAccess& decode = decode_access_[static_cast<size_t>(u)];
    if (at == Tier::kCompute) {
      decode = KvAccess::kResident;
    } else if (at == Tier::kCpu && policy.cpu_attention) {
      decode = KvAccess::kCpuAttends;
    } else if (at == Tier::kCpu && swa.enabled()) {
      decode = KvAccess::kInPlace;
    } else {
      decode = KvAccess::kSlot;
    }
  }

  if (n_units > count_on(homes_, Tier::kCompute)) {
    for (int s = 0; s < 2; ++s) {
      slot_k_[s] = owned_bytes(owner, compute, part_bytes, "KV cache slot");
      slot_v_[s] = owned_bytes(owner, compute, part_bytes, "KV cache slot");
    }
  }
  if (layout_.int8()) {
    for (void*& dense : dense_)
      dense = owned_bytes(owner, compute, layout_.dense_bytes(), "dense KV");
    if (cpu_attention_) {
      for (void*& dense : host_dense_) {
        dense = owned_bytes(owner, *tiers.cpu, layout_.dense_bytes(), "dense KV for CPU attention");
      }
    }
  }

  if (swa.enabled()) {
    const SwaShape swa_shape_ =
        swa_shape(swa, spec.n_heads, b, shape.capacity, shape.max_step_tokens);
    swa_scratch_ = allocate_swa_scratch(compute, swa_shape_, owner);
    if (cpu_attention_) host_swa_scratch_ = allocate_swa_scratch(*tiers.cpu, swa_shape_, owner);
    swa_units_.resize(static_cast<size_t>(n_units));
    for (int64_t u = 0; u < n_units; ++u) {
      const bool on_cpu = cpu_attention_ && home(u) == Tier::kCpu;
      swa_units_[u] = allocate_swa_layer(on_cpu ? *tiers.cpu : compute, swa, swa_shape_, owner);
    }
    if (recompute_below_ > 0) {
      // At most this many selected tokens of a sequence lie below recompute_below_.
      const int64_t rows = std::min(swa_shape_.max_selected, recompute_below_);
      recompute_.below = recompute_below_;
      recompute_.rows =
          owned_tensor(owner, compute, act, {b, rows, spec.hidden_size}, "Phase III rows");
      recompute_.normed =
          owned_tensor(owner, compute, act, {b * rows, spec.hidden_size}, "Phase III rows");
      recompute_.k = owned_tensor(owner, compute, act, {b * rows, spec.kv_dim()}, "Phase III keys");
      recompute_.v =
          owned_tensor(owner, compute, act, {b * rows, spec.kv_dim()}, "Phase III values");
      recompute_.positions =
          owned_tensor(owner, compute, DType::kI32, {b * rows}, "Phase III positions");
    }
    swa_batches_.resize(static_cast<size_t>(shape.num_gpu_batches));
    for (SwaBatch& batch : swa_batches_) {
      batch.sequences =
          owned_tensor(owner, compute, DType::kI32, {b, kSwaSequenceFields}, "SWA sequences");
      batch.host.assign(static_cast<size_t>(b), SwaSequence{});
    }
  }
}

void* KvCache::home_cache(const HomedBuffer& buffer, int64_t unit) const {
  if (!units_[static_cast<size_t>(unit)].keeps) return buffer.data();
  // Never read below recompute_below_: those positions are recomputed.
  return static_cast<char*>(buffer.data()) -
         static_cast<ptrdiff_t>(recompute_below_) *
             static_cast<ptrdiff_t>(layout_.part_token_bytes(0));
}

Tensor KvCache::kv_view(void* data, Device* device) const {
  return Tensor(data, device, shape_.activation_dtype,
                {shape_.capacity, shape_.gpu_batch_size, spec_.n_kv_heads, spec_.head_dim})
      .transpose(0, 1);
}

Tensor KvCache::dense_kv(void* stored, void* dense, int64_t past, Ops& ops, Device* device) const {
  if (!layout_.int8()) return kv_view(stored, device);
  layout_.dequantize(ops, device, stored, dense, 0, past);
  return kv_view(dense, device);
}

Tensor KvCache::kept_hidden(int64_t unit) const {
  return Tensor(units_[static_cast<size_t>(unit)].kept.data(), tiers_.compute,
                shape_.activation_dtype,
                {recompute_below_, shape_.gpu_batch_size, spec_.hidden_size})
      .transpose(0, 1);
}

uint64_t KvCache::load(int64_t unit, int slot, int64_t past, CopyEngine& copies,
                       void* staging) const {
  const Unit& u = units_[static_cast<size_t>(unit)];
  uint64_t bytes = 0;
  for (int part = 0; part < layout_.n_parts(); ++part) {
    const size_t offset = layout_.part_offset(part);
    const size_t n = static_cast<size_t>(past) * layout_.part_token_bytes(part);
    u.k.load(offset, n, static_cast<char*>(slot_k_[slot]) + offset, Queue::kCacheIn, copies,
             staging);
    u.v.load(offset, n, static_cast<char*>(slot_v_[slot]) + offset, Queue::kCacheIn, copies,
             staging);
    bytes += 2 * n;
  }
  return bytes;
}

uint64_t KvCache::store(int64_t unit, int slot, int64_t past, int64_t n_new, CopyEngine& copies,
                        char* staging_k, char* staging_v,
                        std::vector<std::shared_future<void>>& writes) {
  Unit& u = units_[static_cast<size_t>(unit)];
  auto keep = [&](std::shared_future<void> write) {
    if (write.valid()) writes.push_back(std::move(write));
  };
  // Phase III homes hold no K and V below recompute_below_, and address the rest from there.
  const int64_t home_start = u.keeps ? recompute_below_ : 0;
  const int64_t from = std::max(past, home_start);
  uint64_t bytes = 0;
  if (from >= past + n_new) return bytes;
  for (int part = 0; part < layout_.n_parts(); ++part) {
    const size_t token = layout_.part_token_bytes(part);
    const size_t offset = layout_.part_offset(part) + static_cast<size_t>(from) * token;
    const size_t home_offset = offset - static_cast<size_t>(home_start) * token;
    const size_t n = static_cast<size_t>(past + n_new - from) * token;
    keep(u.k.store(home_offset, n, static_cast<char*>(slot_k_[slot]) + offset, Queue::kCacheOut,
                   copies, staging_k == nullptr ? nullptr : staging_k + home_offset));
    keep(u.v.store(home_offset, n, static_cast<char*>(slot_v_[slot]) + offset, Queue::kCacheOut,
                   copies, staging_v == nullptr ? nullptr : staging_v + home_offset));
    bytes += 2 * n;
  }
  return bytes;
}

KvLayerView KvCache::begin_compute(int64_t unit, int slot, int64_t past, int64_t n_new,
                                   const Tensor& hidden, const LayerWeights& w, Ops& ops,
                                   CopyEngine& copies) const {
  const Unit& u = units_[static_cast<size_t>(unit)];
  const bool in_slot = access(unit, past) == KvAccess::kSlot;
  void* stored_k = in_slot ? slot_k_[slot] : home_cache(u.k, unit);
  void* stored_v = in_slot ? slot_v_[slot] : home_cache(u.v, unit);
  Device* device = tiers_.compute;
  KvLayerView cache{.k = dense_kv(stored_k, dense_[0], past, ops, device),
                    .v = dense_kv(stored_v, dense_[1], past, ops, device),
                    .swa = swa_state(unit, false),
                    .recompute = {}};
  if (u.keeps) {
    const Tensor kept = kept_hidden(unit);
    if (past < recompute_below_) {  // the step's tokens below it keep their input hidden states
      const int64_t n_kept = std::min(n_new, recompute_below_ - past);
      ops.copy(
          hidden.reshape({shape_.gpu_batch_size, n_new, spec_.hidden_size}).slice(1, 0, n_kept),
          kept.slice(1, past, past + n_kept));
      copies.count_mapped(Link::kGpuToCpu, static_cast<uint64_t>(n_kept * shape_.gpu_batch_size *
                                                                 spec_.hidden_size) *
                                               dtype_size(shape_.activation_dtype));
    }
    if (past > 0) {
      cache.recompute = recompute_;
      cache.recompute.hidden = kept;
      cache.recompute.weights = &w;
    }
  }
  return cache;
}

void KvCache::end_compute(int64_t unit, int slot, int64_t past, int64_t n_new, Ops& ops,
                          CopyEngine& copies) const {
  const KvAccess how = access(unit, past);
  if (layout_.int8()) {  // the step's new tokens join the stored cache
    const Unit& u = units_[static_cast<size_t>(unit)];
    const bool in_slot = how == KvAccess::kSlot;
    void* stored_k = in_slot ? slot_k_[slot] : home_cache(u.k, unit);
    void* stored_v = in_slot ? slot_v_[slot] : home_cache(u.v, unit);
    layout_.quantize(ops, tiers_.compute, dense_[0], stored_k, past, n_new);
    layout_.quantize(ops, tiers_.compute, dense_[1], stored_v, past, n_new);
  }
  if (how == KvAccess::kInPlace) {
    count_in_place_bytes(unit_position(shape_, unit).batch, past, n_new, copies);
  }
}

KvLayerView KvCache::begin_cpu_attention(int64_t unit, int64_t past, Ops& cpu_ops) const {
  const Unit& u = units_[static_cast<size_t>(unit)];
  Device* cpu = tiers_.cpu;
  return {.k = dense_kv(u.k.data(), host_dense_[0], past, cpu_ops, cpu),
          .v = dense_kv(u.v.data(), host_dense_[1], past, cpu_ops, cpu),
          .swa = swa_state(unit, true),
          .recompute = {}};
}

void KvCache::end_cpu_attention(int64_t unit, int64_t past, int64_t n_new, Ops& cpu_ops) const {
  if (!layout_.int8()) return;
  // The step's new token joins the stored cache.
  const Unit& u = units_[static_cast<size_t>(unit)];
  layout_.quantize(cpu_ops, tiers_.cpu, host_dense_[0], u.k.data(), past, n_new);
  layout_.quantize(cpu_ops, tiers_.cpu, host_dense_[1], u.v.data(), past, n_new);
}

KvLayerView KvCache::lane_view(int64_t unit, int slot, int64_t past, int64_t row,
                               const Tensor& sequence) const {
  const Unit& u = units_[static_cast<size_t>(unit)];
  const KvAccess how = access(unit, past);
  ALISA_ASSERT(past > 0 && !(layout_.int8() && how == KvAccess::kCpuAttends),
               "refill lane at past ", past, " (an int8 cache attended on the CPU has none)");
  Device* device = tiers_.compute;
  const bool in_slot = how == KvAccess::kSlot;
  // The unit's decode compute left an int8 cache dequantised in dense_ (tokens [0, past]).
  void* k = layout_.int8() ? dense_[0] : in_slot ? slot_k_[slot] : home_cache(u.k, unit);
  void* v = layout_.int8() ? dense_[1] : in_slot ? slot_v_[slot] : home_cache(u.v, unit);
  KvLayerView view{.k = kv_view(k, device).slice(0, row, row + 1),
                   .v = kv_view(v, device).slice(0, row, row + 1),
                   .swa = {},
                   .recompute = {}};
  if (swa_.enabled()) {
    SwaState state = swa_state(unit, false);
    for (Tensor* t : {&state.score, &state.ring_index, &state.ring_weight, &state.ring_count,
                      &state.selected, &state.probs}) {
      if (!t->empty()) *t = t->slice(0, row, row + 1);
    }
    state.sequences = sequence;
    view.swa = state;
  }
  return view;
}

void KvCache::end_lanes(int64_t unit, int slot, int64_t past, int64_t first, int64_t lane_tokens,
                        Ops& ops, CopyEngine& copies) const {
  const KvAccess how = access(unit, past);
  const bool in_place = how == KvAccess::kInPlace || how == KvAccess::kCpuAttends;
  if (layout_.int8()) {
    const Unit& u = units_[static_cast<size_t>(unit)];
    const bool in_slot = how == KvAccess::kSlot;
    void* stored_k = in_slot ? slot_k_[slot] : home_cache(u.k, unit);
    void* stored_v = in_slot ? slot_v_[slot] : home_cache(u.v, unit);
    layout_.quantize(ops, tiers_.compute, dense_[0], stored_k, first, past + 1 - first);
    layout_.quantize(ops, tiers_.compute, dense_[1], stored_v, first, past + 1 - first);
    if (in_place) lane_tokens = (past + 1 - first) * shape_.gpu_batch_size;
  }
  if (in_place) {
    uint64_t token_bytes = 0;  // one token of one sequence, K or V
    for (int part = 0; part < layout_.n_parts(); ++part) {
      token_bytes += layout_.part_token_bytes(part) / static_cast<uint64_t>(shape_.gpu_batch_size);
    }
    copies.count_mapped(Link::kGpuToCpu, 2 * static_cast<uint64_t>(lane_tokens) * token_bytes);
  }
}

SwaSequence KvCache::restart_swa(int64_t seq, int32_t n_real, int64_t length) {
  ALISA_ASSERT(swa_.enabled(), "SWA restart without SWA");
  return swa_planner_.restart(static_cast<size_t>(seq), n_real, length);
}

void KvCache::count_in_place_bytes(int64_t batch, int64_t past, int64_t n_new,
                                   CopyEngine& copies) const {
  // K and V of every selected token (of every stored token when an int8 cache is dequantised
  // first), and the new tokens written back.
  const uint64_t b = static_cast<uint64_t>(shape_.gpu_batch_size);
  uint64_t batch_token_bytes = 0;  // one token of every sequence of the GPU batch
  for (int part = 0; part < layout_.n_parts(); ++part) {
    batch_token_bytes += layout_.part_token_bytes(part);
  }
  uint64_t tokens_read = 0;
  for (const SwaSequence& s : swa_batches_[static_cast<size_t>(batch)].host) {
    tokens_read += static_cast<uint64_t>(s.total);
  }
  if (layout_.int8()) tokens_read = static_cast<uint64_t>(past) * b;
  copies.count_mapped(Link::kCpuToGpu, 2 * tokens_read * batch_token_bytes / b);
  copies.count_mapped(Link::kGpuToCpu, 2 * static_cast<uint64_t>(n_new) * batch_token_bytes);
}

SwaState KvCache::swa_state(int64_t unit, bool on_cpu) const {
  if (!swa_.enabled()) return {};
  SwaState state = swa_units_[static_cast<size_t>(unit)];
  const SwaBatch& batch = swa_batches_[static_cast<size_t>(unit_position(shape_, unit).batch)];
  if (on_cpu) {
    state = with_scratch(state, host_swa_scratch_);
    state.sequences = Tensor(const_cast<SwaSequence*>(batch.host.data()), tiers_.cpu, DType::kI32,
                             {shape_.gpu_batch_size, kSwaSequenceFields});
    return state;
  }
  state = with_scratch(state, swa_scratch_);
  state.sequences = batch.sequences;
  // State kept on the CPU tier (for cpu_attention decode steps) is reached through mapped memory
  // by the prefill on the GPU.
  for (Tensor* t : {&state.score, &state.ring_index, &state.ring_weight, &state.ring_count}) {
    if (!t->empty() && t->device() != tiers_.compute) *t = mapped(*t, tiers_);
  }
  return state;
}

void KvCache::plan_swa(std::span<const int32_t> n_real, std::span<const uint8_t> new_mask,
                       int64_t n_new, int64_t past) {
  if (!swa_.enabled()) return;
  ALISA_CHECK(past == 0 || n_new == 1,
              "sparse window attention decodes one token per step after "
              "the prompt, not ",
              n_new);
  const int64_t b = shape_.gpu_batch_size;
  for (int64_t seq = 0; seq < shape_.block_size(); ++seq) {
    // The selection counts a sequence's real tokens as one run at the end of its cache.
    int64_t real_before = n_real[static_cast<size_t>(seq)];
    for (int64_t i = 0; i < n_new; ++i) real_before -= new_mask[seq * n_new + i] != 0;
    bool seen = real_before > 0;
    for (int64_t i = 0; i < n_new; ++i) {
      const bool real = new_mask[seq * n_new + i] != 0;
      ALISA_CHECK(real || !seen, "sparse window attention needs left padding only: sequence ", seq,
                  " has padding after a real token");
      seen = seen || real;
    }
  }
  std::vector<SwaSequence> planned(static_cast<size_t>(shape_.block_size()));
  swa_planner_.plan(n_real, past + n_new, past == 0, planned);
  for (int64_t k = 0; k < shape_.num_gpu_batches; ++k) {
    SwaBatch& batch = swa_batches_[static_cast<size_t>(k)];
    std::copy_n(planned.begin() + k * b, b, batch.host.begin());
    copy_host_to_device(batch.sequences, batch.host.data());
  }
}

}  // namespace alisa
