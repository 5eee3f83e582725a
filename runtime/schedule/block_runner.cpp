#include "runtime/schedule/block_runner.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace alisa {
namespace {

constexpr uint64_t kFileAlignment = 4096;

// A file in the offload folder holding `n` regions of `region_bytes` each (block-aligned).
std::unique_ptr<DiskFile> offload_file(const Tiers& tiers, const std::string& what, uint64_t n,
                                       uint64_t region_bytes) {
  std::filesystem::create_directories(tiers.disk_dir);
  const std::filesystem::path path =
      tiers.disk_dir / ("alisa-" + what + "-" + std::to_string(::getpid()) + ".bin");
  return std::make_unique<DiskFile>(
      DiskFile::create(path, n * round_up(region_bytes, kFileAlignment)));
}

}  // namespace

BlockRunner::BlockRunner(const ModelSpec& spec, const WeightStore& weights, Ops& ops, Ops* cpu_ops,
                         const Tiers& tiers, CopyEngine& copies, const Policy& policy,
                         const BlockShape& shape, const SwaOptions& swa)
    : spec_(spec),
      weights_(weights),
      ops_(ops),
      cpu_ops_(cpu_ops),
      tiers_(tiers),
      copies_(copies),
      policy_(policy),
      shape_(shape),
      program_(spec),
      swa_(swa),
      swa_planner_(swa, shape.block_size()) {
  const int64_t b = shape.gpu_batch_size;
  const int64_t n_batches = shape.num_gpu_batches;
  const int64_t block = shape.block_size();
  const int64_t max_tokens = b * shape.max_step_tokens;
  const DType act = shape.activation_dtype;
  Device& compute = *tiers.compute;
  auto make = [&](Device& device, DType dtype, std::initializer_list<int64_t> dims,
                  const char* what) {
    OwnedTensor owned = allocate_tensor(device, dtype, dims, what);
    buffers_.push_back(std::move(owned.buffer));
    return owned.tensor;
  };
  auto raw = [&](Device& device, size_t n_bytes, const char* what) {
    buffers_.push_back(device.allocate(n_bytes, what));
    return buffers_.back().data();
  };

  // Weights: two slots (layer j computes from one while j + 1 streams into the other), and two
  // host stagings for disk-resident tensors.
  if (weights.slot_bytes() > 0) {
    for (void*& slot : weight_slot_) slot = raw(compute, weights.slot_bytes(), "weight slot");
  }
  weight_slot_of_.assign(static_cast<size_t>(spec.n_layers), -1);
  for (int64_t j = 0; j < spec.n_layers; ++j) {
    if (!weights.layer_streamed(j)) continue;
    weight_slot_of_[static_cast<size_t>(j)] = static_cast<int>(streamed_layers_.size() % 2);
    streamed_layers_.push_back(j);
  }
  // Compressed layers are dequantised on the compute queue just before they compute: one dense
  // slot serves them all in turn.
  if (weights.dense_slot_bytes() > 0) {
    dense_weight_slot_ = raw(compute, weights.dense_slot_bytes(), "dequantised weight slot");
  }
  if (weights.staging_bytes() > 0) {
    for (void*& staging : weight_staging_) {
      staging = raw(*tiers.cpu, weights.staging_bytes(), "weight disk staging");
    }
  }

  // KV cache units and hidden states, homed by the policy's percentages.
  kv_layout_ =
      KvLayout(shape.capacity, b * spec.n_kv_heads, spec.head_dim, act, policy.compress_cache);
  const size_t kv_bytes = kv_layout_.stored_bytes();
  const int64_t n_units = spec.n_layers * n_batches;
  const std::vector<uint64_t> kv_sizes(static_cast<size_t>(n_units), 2 * kv_bytes);
  const std::vector<Tier> kv_homes =
      place_by_percent(kv_sizes, policy.cache_gpu_percent, policy.cache_cpu_percent);
  const size_t hidden_buffer_bytes = hidden_bytes(shape.max_step_tokens);
  const std::vector<uint64_t> hidden_sizes(static_cast<size_t>(n_batches), hidden_buffer_bytes);
  const std::vector<Tier> hidden_homes = place_by_percent(
      hidden_sizes, policy.activations_gpu_percent, policy.activations_cpu_percent);
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
    if (std::count(kv_homes.begin(), kv_homes.end(), Tier::kCpu) > 0) {
      recompute_below_ = kept_hidden_positions(policy, shape.capacity, shape.max_step_tokens);
    }
  }
  auto count = [](const std::vector<Tier>& homes, Tier tier) {
    return static_cast<uint64_t>(std::count(homes.begin(), homes.end(), tier));
  };
  DiskFile* kv_file = nullptr;
  DiskFile* hidden_file = nullptr;
  if (const uint64_t n = count(kv_homes, Tier::kDisk); n > 0) {
    files_.push_back(offload_file(tiers, "kv-cache", 2 * n, kv_bytes));
    kv_file = files_.back().get();
  }
  if (const uint64_t n = count(hidden_homes, Tier::kDisk); n > 0) {
    files_.push_back(offload_file(tiers, "activations", n, hidden_buffer_bytes));
    hidden_file = files_.back().get();
  }
  uint64_t kv_region = 0, hidden_region = 0;
  const uint64_t kv_stride = round_up(kv_bytes, kFileAlignment);
  kv_.resize(static_cast<size_t>(n_units));
  kept_hidden_.resize(static_cast<size_t>(n_units));
  const size_t kept_kv_bytes =
      static_cast<size_t>(recompute_below_) * kv_layout_.part_token_bytes(0);
  for (int64_t u = 0; u < n_units; ++u) {
    const Tier home = kv_homes[static_cast<size_t>(u)];
    const bool on_disk = home == Tier::kDisk;
    // Phase III: a CPU-resident cache stores K and V from position recompute_below_ on, and the
    // input hidden states before it (half the bytes for multi-head attention).
    const bool keeps = recompute_below_ > 0 && home == Tier::kCpu;
    const size_t bytes = keeps ? kv_bytes - kept_kv_bytes : kv_bytes;
    kv_[u].k =
        HomedBuffer(home, bytes, tiers, kv_file, on_disk ? kv_stride * kv_region++ : 0, "KV cache");
    kv_[u].v =
        HomedBuffer(home, bytes, tiers, kv_file, on_disk ? kv_stride * kv_region++ : 0, "KV cache");
    if (keeps) {
      kept_hidden_[u] = HomedBuffer(home, static_cast<size_t>(recompute_below_) * hidden_bytes(1),
                                    tiers, nullptr, 0, "kept hidden states (Phase III)");
    }
  }
  hidden_.resize(static_cast<size_t>(n_batches));
  for (int64_t k = 0; k < n_batches; ++k) {
    const Tier home = hidden_homes[static_cast<size_t>(k)];
    hidden_[k] = HomedBuffer(
        home, hidden_buffer_bytes, tiers, hidden_file,
        home == Tier::kDisk ? round_up(hidden_buffer_bytes, kFileAlignment) * hidden_region++ : 0,
        "hidden states");
  }
  const bool kv_slots = count(kv_homes, Tier::kCompute) < kv_homes.size();
  const bool hidden_slots = count(hidden_homes, Tier::kCompute) < hidden_homes.size();
  for (int s = 0; s < 2; ++s) {
    if (kv_slots) {
      kv_slot_k_[s] = raw(compute, kv_bytes, "KV cache slot");
      kv_slot_v_[s] = raw(compute, kv_bytes, "KV cache slot");
    }
    if (hidden_slots) hidden_slot_[s] = raw(compute, hidden_buffer_bytes, "hidden state slot");
  }
  const bool cpu_attention = policy.cpu_attention && count(kv_homes, Tier::kCpu) > 0;
  if (kv_layout_.int8()) {
    for (void*& dense : dense_kv_) dense = raw(compute, kv_layout_.dense_bytes(), "dense KV");
    if (cpu_attention) {
      for (void*& dense : host_dense_kv_) {
        dense = raw(*tiers.cpu, kv_layout_.dense_bytes(), "dense KV for CPU attention");
      }
    }
  }
  if (kv_file != nullptr || hidden_file != nullptr) {
    disk_staging_ = raw(*tiers.cpu, std::max(kv_bytes, hidden_buffer_bytes), "disk staging");
    // Stores go to disk in the background: each slot stages its K, V and hidden states apart.
    for (void*& staging : disk_store_staging_) {
      staging = raw(*tiers.cpu, 2 * kv_bytes + hidden_buffer_bytes, "disk store staging");
    }
  }
  hidden_stored_.assign(static_cast<size_t>(n_batches), nullptr);

  inputs_.resize(static_cast<size_t>(n_batches));
  for (BatchInputs& in : inputs_) {
    in.token_ids = make(compute, DType::kI32, {max_tokens}, "token ids");
    in.position_ids = make(compute, DType::kI32, {max_tokens}, "position ids");
    in.key_mask = make(compute, DType::kU8, {b, shape.capacity}, "key mask");
    in.mask_host.assign(static_cast<size_t>(b * shape.capacity), 0);
  }
  scratch_ = program_.allocate_scratch(compute, act, max_tokens, buffers_);
  if (cpu_attention) {
    ALISA_ASSERT(cpu_ops != nullptr, "cpu_attention without CPU ops");
    // Decode steps only: one new token per sequence.
    for (DecoderScratch& host : host_scratch_) {
      host.max_tokens = b;
      host.q = make(*tiers.cpu, act, {b, spec.q_dim()}, "CPU attention queries");
      host.k = make(*tiers.cpu, act, {b, spec.kv_dim()}, "CPU attention keys");
      host.v = make(*tiers.cpu, act, {b, spec.kv_dim()}, "CPU attention values");
      host.attention = make(*tiers.cpu, act, {b, spec.q_dim()}, "CPU attention output");
    }
  }
  if (swa.enabled()) {
    const SwaShape swa_shape_ =
        swa_shape(swa, spec.n_heads, b, shape.capacity, shape.max_step_tokens);
    swa_scratch_ = allocate_swa_scratch(compute, swa_shape_, buffers_);
    if (cpu_attention) host_swa_scratch_ = allocate_swa_scratch(*tiers.cpu, swa_shape_, buffers_);
    swa_units_.resize(static_cast<size_t>(n_units));
    for (int64_t u = 0; u < n_units; ++u) {
      const bool on_cpu = cpu_attention && kv_homes[static_cast<size_t>(u)] == Tier::kCpu;
      swa_units_[u] = allocate_swa_layer(on_cpu ? *tiers.cpu : compute, swa, swa_shape_, buffers_);
    }
    if (recompute_below_ > 0) {
      // At most this many selected tokens of a sequence lie below recompute_below_.
      const int64_t rows = std::min(swa_shape_.max_selected, recompute_below_);
      recompute_.below = recompute_below_;
      recompute_.rows = make(compute, act, {b, rows, spec.hidden_size}, "Phase III rows");
      recompute_.normed = make(compute, act, {b * rows, spec.hidden_size}, "Phase III rows");
      recompute_.k = make(compute, act, {b * rows, spec.kv_dim()}, "Phase III keys");
      recompute_.v = make(compute, act, {b * rows, spec.kv_dim()}, "Phase III values");
      recompute_.positions = make(compute, DType::kI32, {b * rows}, "Phase III positions");
    }
    for (BatchInputs& in : inputs_) {
      in.swa_sequences = make(compute, DType::kI32, {b, kSwaSequenceFields}, "SWA sequences");
      in.swa_host.assign(static_cast<size_t>(b), SwaSequence{});
    }
  }
  head_rows_ = make(compute, act, {b, spec.hidden_size}, "head rows");
  logits_ = make(compute, DType::kF32, {block, spec.vocab_size}, "logits");
  if (act != DType::kF32) logits_staging_ = make(compute, act, {b, spec.vocab_size}, "logits");
  rng_keys_ = make(compute, DType::kI64, {block}, "sampling keys");
  sampled_ = make(compute, DType::kI32, {block}, "sampled tokens");
  n_real_tokens_.assign(static_cast<size_t>(block), 0);
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
  for (std::vector<std::future<void>>& reads : weight_reads_) {
    for (std::future<void>& read : reads) {
      if (read.valid()) read.wait();
    }
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

Tensor BlockRunner::dense_kv(void* stored, void* dense, int64_t past, Ops& ops,
                             Device* device) const {
  if (!kv_layout_.int8()) return kv_view(stored, device);
  kv_layout_.dequantize(ops, device, stored, dense, 0, past);
  return kv_view(dense, device);
}

Tensor BlockRunner::kv_view(void* data, Device* device) const {
  return Tensor(data, device, shape_.activation_dtype,
                {shape_.capacity, shape_.gpu_batch_size, spec_.n_kv_heads, spec_.head_dim})
      .transpose(0, 1);
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

bool BlockRunner::cpu_attends(int64_t unit, int64_t past) const {
  return policy_.cpu_attention && past > 0 && kv_[static_cast<size_t>(unit)].k.home() == Tier::kCpu;
}

bool BlockRunner::kv_in_slot(int64_t unit, int64_t past) const {
  return kv_[static_cast<size_t>(unit)].k.home() != Tier::kCompute && !cpu_attends(unit, past) &&
         !swa_reads_in_place(unit, past);
}

bool BlockRunner::swa_reads_in_place(int64_t unit, int64_t past) const {
  return swa_.enabled() && past > 0 && kv_[static_cast<size_t>(unit)].k.home() == Tier::kCpu &&
         !cpu_attends(unit, past);
}

bool BlockRunner::keeps_hidden(int64_t unit) const {
  return recompute_below_ > 0 && kv_[static_cast<size_t>(unit)].k.home() == Tier::kCpu;
}

void* BlockRunner::home_cache(const HomedBuffer& buffer, int64_t unit) const {
  if (!keeps_hidden(unit)) return buffer.data();
  // Never read below recompute_below_: those positions are recomputed.
  return static_cast<char*>(buffer.data()) -
         static_cast<ptrdiff_t>(recompute_below_) *
             static_cast<ptrdiff_t>(kv_layout_.part_token_bytes(0));
}

Tensor BlockRunner::kept_hidden(int64_t unit) const {
  return Tensor(kept_hidden_[static_cast<size_t>(unit)].data(), tiers_.compute,
                shape_.activation_dtype,
                {recompute_below_, shape_.gpu_batch_size, spec_.hidden_size})
      .transpose(0, 1);
}

void BlockRunner::count_in_place_bytes(int64_t k, int64_t past, int64_t n_new) {
  // K and V of every selected token (of every stored token when an int8 cache is dequantised
  // first), and the new tokens written back.
  const uint64_t b = static_cast<uint64_t>(shape_.gpu_batch_size);
  uint64_t batch_token_bytes = 0;  // one token of every sequence of the GPU batch
  for (int part = 0; part < kv_layout_.n_parts(); ++part) {
    batch_token_bytes += kv_layout_.part_token_bytes(part);
  }
  uint64_t tokens_read = 0;
  for (const SwaSequence& s : inputs_[static_cast<size_t>(k)].swa_host) {
    tokens_read += static_cast<uint64_t>(s.total);
  }
  if (kv_layout_.int8()) tokens_read = static_cast<uint64_t>(past) * b;
  copies_.count_mapped(Link::kCpuToGpu, 2 * tokens_read * batch_token_bytes / b);
  copies_.count_mapped(Link::kGpuToCpu, 2 * static_cast<uint64_t>(n_new) * batch_token_bytes);
}

SwaState BlockRunner::swa_state(int64_t unit, bool on_cpu) const {
  if (!swa_.enabled()) return {};
  SwaState state = swa_units_[static_cast<size_t>(unit)];
  const BatchInputs& in = inputs_[static_cast<size_t>(position(unit).batch)];
  if (on_cpu) {
    state = with_scratch(state, host_swa_scratch_);
    state.sequences = Tensor(const_cast<SwaSequence*>(in.swa_host.data()), tiers_.cpu, DType::kI32,
                             {shape_.gpu_batch_size, kSwaSequenceFields});
    return state;
  }
  state = with_scratch(state, swa_scratch_);
  state.sequences = in.swa_sequences;
  // State kept on the CPU tier (for cpu_attention decode steps) is reached through mapped memory
  // by the prefill on the GPU.
  for (Tensor* t : {&state.score, &state.ring_index, &state.ring_weight, &state.ring_count}) {
    if (!t->empty() && t->device() != tiers_.compute) *t = mapped(*t);
  }
  return state;
}

void BlockRunner::plan_swa(std::span<const uint8_t> new_mask, int64_t n_new, int64_t past) {
  ALISA_CHECK(past == 0 || n_new == 1,
              "sparse window attention decodes one token per step after "
              "the prompt, not ",
              n_new);
  const int64_t b = shape_.gpu_batch_size;
  for (int64_t seq = 0; seq < shape_.block_size(); ++seq) {
    // The selection counts a sequence's real tokens as one run at the end of its cache.
    int64_t real_before = n_real_tokens_[static_cast<size_t>(seq)];
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
  swa_planner_.plan(n_real_tokens_, past + n_new, past == 0, planned);
  for (int64_t k = 0; k < shape_.num_gpu_batches; ++k) {
    BatchInputs& in = inputs_[static_cast<size_t>(k)];
    std::copy_n(planned.begin() + k * b, b, in.swa_host.begin());
    copy_host_to_device(in.swa_sequences, in.swa_host.data());
  }
}

int BlockRunner::weight_slot_of(int64_t j) const {
  return weight_slot_of_[static_cast<size_t>(j)];
}

void BlockRunner::queue_weight_loads(int64_t j) {
  while (next_load_ < streamed_layers_.size() &&
         (next_load_ < 2 || streamed_layers_[next_load_ - 2] < j)) {
    load_weights(next_load_++);
    while (next_read_ <= next_load_ && next_read_ < streamed_layers_.size()) {
      read_weights_from_disk(next_read_++);
    }
  }
}

void BlockRunner::read_weights_from_disk(size_t r) {
  const int s = static_cast<int>(r % 2);
  // The staging was last read by the copies of streamed layer r - 2.
  weight_reads_[s] =
      weights_.read_disk(streamed_layers_[r], weight_staging_[s], copies_, weights_ready_[s]);
}

void BlockRunner::load_weights(size_t r) {
  const int64_t j = streamed_layers_[r];
  const int s = static_cast<int>(r % 2);
  for (std::future<void>& read : weight_reads_[s]) read.get();
  weight_reads_[s].clear();
  if (layer_done_[s] != nullptr) copies_.wait(Queue::kWeightsIn, *layer_done_[s]);
  Event& start = copies_.begin(Queue::kWeightsIn);
  const uint64_t bytes = weights_.queue_load(j, weight_slot_[s], weight_staging_[s], copies_);
  weights_ready_[s] = &copies_.end(Queue::kWeightsIn, start, Lane::kWeightsIn,
                                   str("layer ", j, " weights"), bytes, Link::kCpuToGpu);
}

LayerWeights BlockRunner::layer_weights(int64_t j) {
  if (weights_.fully_resident()) return weights_.resident_layer(j);
  const int s = weight_slot_of(j);
  void* slot = s >= 0 ? weight_slot_[s] : nullptr;
  if (!weights_.compressed()) return weights_.layer(j, slot, nullptr, ops_);
  Event& start = copies_.begin(Queue::kCompute);
  const LayerWeights w = weights_.layer(j, slot, dense_weight_slot_, ops_);
  copies_.end(Queue::kCompute, start, Lane::kCompute, str("layer ", j, " dequantize"));
  return w;
}

void BlockRunner::prefetch(int64_t unit, int64_t n_new, int64_t past) {
  if (unit >= spec_.n_layers * shape_.num_gpu_batches) return;
  const auto [j, k, s] = position(unit);
  SlotEvents& slot = slots_[s];
  const bool uses_slot = kv_in_slot(unit, past) || hidden_[k].home() != Tier::kCompute;
  const bool load_kv = kv_in_slot(unit, past) && past > 0;
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
  if (load_kv) {
    const KvUnit& kv = kv_[static_cast<size_t>(unit)];
    for (int part = 0; part < kv_layout_.n_parts(); ++part) {
      const size_t offset = kv_layout_.part_offset(part);
      const size_t n = static_cast<size_t>(past) * kv_layout_.part_token_bytes(part);
      kv.k.load(offset, n, static_cast<char*>(kv_slot_k_[s]) + offset, Queue::kCacheIn, copies_,
                disk_staging_);
      kv.v.load(offset, n, static_cast<char*>(kv_slot_v_[s]) + offset, Queue::kCacheIn, copies_,
                disk_staging_);
      bytes += 2 * n;
    }
  }
  if (load_hidden) {
    const size_t n = hidden_bytes(n_new);
    hidden_[k].load(0, n, hidden_slot_[s], Queue::kCacheIn, copies_, disk_staging_);
    bytes += n;
  }
  slot.ready = &copies_.end(Queue::kCacheIn, start, Lane::kCacheIn,
                            str("layer ", j, " batch ", k, " cache in"), bytes, Link::kCpuToGpu);
}

StepBatch BlockRunner::step_batch(int64_t k, int64_t n_new, int64_t past) const {
  const int64_t b = shape_.gpu_batch_size;
  const BatchInputs& in = inputs_[static_cast<size_t>(k)];
  return {.batch = b,
          .n_new = n_new,
          .past = past,
          .token_ids = in.token_ids.slice(0, 0, b * n_new),
          .position_ids = in.position_ids.slice(0, 0, b * n_new),
          .key_mask = in.key_mask};
}

BlockRunner::UnitPosition BlockRunner::position(int64_t unit) const {
  return {.layer = unit / shape_.num_gpu_batches,
          .batch = unit % shape_.num_gpu_batches,
          .slot = static_cast<int>(unit % 2)};
}

Event& BlockRunner::begin_unit(int64_t unit, const StepBatch& step, const Tensor& hidden) {
  const UnitPosition at = position(unit);
  if (slots_[at.slot].ready != nullptr) copies_.wait(Queue::kCompute, *slots_[at.slot].ready);
  Event& start = copies_.begin(Queue::kCompute);
  if (at.layer == 0) program_.embed(weights_.globals(), step, scratch_, hidden, ops_);
  return start;
}

void BlockRunner::compute(int64_t unit, const LayerWeights& w, int64_t n_new, int64_t past) {
  if (cpu_attends(unit, past)) {
    compute_with_cpu_attention(unit, w, n_new, past);
    return;
  }
  const auto [j, k, s] = position(unit);
  const StepBatch step = step_batch(k, n_new, past);
  const Tensor hidden = hidden_view(k, s, n_new);
  Event& start = begin_unit(unit, step, hidden);
  const KvUnit& kv = kv_[static_cast<size_t>(unit)];
  const bool in_slot = kv_in_slot(unit, past);
  void* stored_k = in_slot ? kv_slot_k_[s] : home_cache(kv.k, unit);
  void* stored_v = in_slot ? kv_slot_v_[s] : home_cache(kv.v, unit);
  Device* device = tiers_.compute;
  KvLayerView cache{.k = dense_kv(stored_k, dense_kv_[0], past, ops_, device),
                    .v = dense_kv(stored_v, dense_kv_[1], past, ops_, device),
                    .swa = swa_state(unit, false),
                    .recompute = {}};
  if (keeps_hidden(unit)) {
    const Tensor kept = kept_hidden(unit);
    if (past < recompute_below_) {  // the step's tokens below it keep their input hidden states
      const int64_t n_kept = std::min(n_new, recompute_below_ - past);
      ops_.copy(
          hidden.reshape({shape_.gpu_batch_size, n_new, spec_.hidden_size}).slice(1, 0, n_kept),
          kept.slice(1, past, past + n_kept));
      copies_.count_mapped(Link::kGpuToCpu, static_cast<uint64_t>(n_kept) * hidden_bytes(1));
    }
    if (past > 0) {
      cache.recompute = recompute_;
      cache.recompute.hidden = kept;
      cache.recompute.weights = &w;
    }
  }
  program_.layer(w, cache, step, scratch_, hidden, ops_);
  if (kv_layout_.int8()) {  // the step's new tokens join the stored cache
    kv_layout_.quantize(ops_, device, dense_kv_[0], stored_k, past, n_new);
    kv_layout_.quantize(ops_, device, dense_kv_[1], stored_v, past, n_new);
  }
  if (swa_reads_in_place(unit, past)) count_in_place_bytes(k, past, n_new);
  if (j == spec_.n_layers - 1) head(k, hidden, n_new);
  slots_[s].computed =
      &copies_.end(Queue::kCompute, start, Lane::kCompute, str("layer ", j, " batch ", k));
}

void BlockRunner::compute_with_cpu_attention(int64_t unit, const LayerWeights& w, int64_t n_new,
                                             int64_t past) {
  const int64_t n_batches = shape_.num_gpu_batches;
  const auto [j, k, s] = position(unit);
  if (qkv_queued_unit_ != unit) queue_qkv(unit, w, n_new, past);
  // The next GPU batch of this layer (same weights) computes its queries while the CPU attends
  // this one; its slot was prefetched before this unit's compute.
  const int64_t next = unit + 1;
  if (next % n_batches != 0 && cpu_attends(next, past)) {
    queue_qkv(next, w, n_new, past);
    qkv_queued_unit_ = next;
  }
  const StepBatch step = step_batch(k, n_new, past);
  attend_on_cpu(unit, step);
  Event& start = copies_.begin(Queue::kCompute);
  const Tensor attention = scratch_.attention.slice(0, 0, step.batch * step.n_new);
  copies_.copy_mapped(ops_, mapped(host_scratch_[s].attention), attention, Link::kCpuToGpu);
  const Tensor hidden = hidden_view(k, s, n_new);
  program_.layer_rest(w, step, scratch_, hidden, ops_);
  if (j == spec_.n_layers - 1) head(k, hidden, n_new);
  slots_[s].computed =
      &copies_.end(Queue::kCompute, start, Lane::kCompute, str("layer ", j, " batch ", k));
}

void BlockRunner::queue_qkv(int64_t unit, const LayerWeights& w, int64_t n_new, int64_t past) {
  const auto [j, k, s] = position(unit);
  const StepBatch step = step_batch(k, n_new, past);
  const Tensor hidden = hidden_view(k, s, n_new);
  Event& start = begin_unit(unit, step, hidden);
  program_.layer_qkv(w, step, scratch_, hidden, ops_);
  // The step's queries, keys and values to the CPU, where the cache lies.
  const int64_t n = step.batch * step.n_new;
  const DecoderScratch& host = host_scratch_[s];
  copies_.copy_mapped(ops_, scratch_.q.slice(0, 0, n), mapped(host.q), Link::kGpuToCpu);
  copies_.copy_mapped(ops_, scratch_.k.slice(0, 0, n), mapped(host.k), Link::kGpuToCpu);
  copies_.copy_mapped(ops_, scratch_.v.slice(0, 0, n), mapped(host.v), Link::kGpuToCpu);
  qkv_exported_[s] =
      &copies_.end(Queue::kCompute, start, Lane::kCompute, str("layer ", j, " batch ", k, " qkv"));
}

void BlockRunner::attend_on_cpu(int64_t unit, const StepBatch& step) {
  const int64_t k = unit % shape_.num_gpu_batches;
  const int s = static_cast<int>(unit % 2);
  ALISA_ASSERT(step.n_new == 1, "CPU attention serves decode steps");
  copies_.host_wait(*qkv_exported_[s]);
  const double start = copies_.host_now_us();
  BatchInputs& in = inputs_[static_cast<size_t>(k)];
  const Tensor host_mask(in.mask_host.data(), tiers_.cpu, DType::kU8,
                         {step.batch, shape_.capacity});
  StepBatch host_step = step;
  host_step.key_mask = host_mask;  // the CPU reads only the mask (and the scratch, the cache)
  const KvUnit& kv = kv_[static_cast<size_t>(unit)];
  Device* cpu = tiers_.cpu;
  program_.layer_attend({.k = dense_kv(kv.k.data(), host_dense_kv_[0], step.past, *cpu_ops_, cpu),
                         .v = dense_kv(kv.v.data(), host_dense_kv_[1], step.past, *cpu_ops_, cpu),
                         .swa = swa_state(unit, true),
                         .recompute = {}},
                        host_step, host_scratch_[s], *cpu_ops_);
  if (kv_layout_.int8()) {  // the step's new token joins the stored cache
    kv_layout_.quantize(*cpu_ops_, cpu, host_dense_kv_[0], kv.k.data(), step.past, step.n_new);
    kv_layout_.quantize(*cpu_ops_, cpu, host_dense_kv_[1], kv.v.data(), step.past, step.n_new);
  }
  copies_.host_span(Lane::kCpuAttention,
                    str("layer ", unit / shape_.num_gpu_batches, " batch ", k, " CPU attention"),
                    start, copies_.host_now_us());
}

Tensor BlockRunner::mapped(const Tensor& host) const {
  ALISA_ASSERT(host.device() == tiers_.cpu && host.is_contiguous(), "mapped view");
  std::array<int64_t, kMaxRank> dims{};
  for (int d = 0; d < host.rank(); ++d) dims[static_cast<size_t>(d)] = host.size(d);
  return Tensor(host.data(), tiers_.compute, host.dtype(), dims.data(), host.rank());
}

void BlockRunner::store(int64_t unit, int64_t n_new, int64_t past) {
  const auto [j, k, s] = position(unit);
  SlotEvents& slot = slots_[s];  // slot.stored keeps an older store when this unit stores nothing
  const bool store_kv = kv_in_slot(unit, past);
  const bool store_hidden = hidden_[k].home() != Tier::kCompute && j + 1 < spec_.n_layers;
  if (!store_kv && !store_hidden) return;
  copies_.wait(Queue::kCacheOut, *slot.computed);
  Event& start = copies_.begin(Queue::kCacheOut);
  // Disk homes stage through this slot's staging, free once its previous writes are done.
  char* staging = static_cast<char*>(disk_store_staging_[s]);
  if (staging != nullptr) finish_disk_writes(s);
  const size_t kv_bytes = kv_layout_.stored_bytes();
  auto keep = [&](std::shared_future<void> write) {
    if (write.valid()) disk_writes_[s].push_back(std::move(write));
  };
  uint64_t bytes = 0;
  // Phase III homes hold no K and V below recompute_below_, and address the rest from there.
  const int64_t home_start = keeps_hidden(unit) ? recompute_below_ : 0;
  const int64_t from = std::max(past, home_start);
  if (store_kv && from < past + n_new) {
    KvUnit& kv = kv_[static_cast<size_t>(unit)];
    for (int part = 0; part < kv_layout_.n_parts(); ++part) {
      const size_t token = kv_layout_.part_token_bytes(part);
      const size_t offset = kv_layout_.part_offset(part) + static_cast<size_t>(from) * token;
      const size_t home_offset = offset - static_cast<size_t>(home_start) * token;
      const size_t n = static_cast<size_t>(past + n_new - from) * token;
      keep(kv.k.store(home_offset, n, static_cast<char*>(kv_slot_k_[s]) + offset, Queue::kCacheOut,
                      copies_, staging + home_offset));
      keep(kv.v.store(home_offset, n, static_cast<char*>(kv_slot_v_[s]) + offset, Queue::kCacheOut,
                      copies_, staging + kv_bytes + home_offset));
      bytes += 2 * n;
    }
  }
  if (store_hidden) {
    const size_t n = hidden_bytes(n_new);
    keep(
        hidden_[k].store(0, n, hidden_slot_[s], Queue::kCacheOut, copies_, staging + 2 * kv_bytes));
    bytes += n;
  }
  slot.stored = &copies_.end(Queue::kCacheOut, start, Lane::kCacheOut,
                             str("layer ", j, " batch ", k, " cache out"), bytes, Link::kGpuToCpu);
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
                       int64_t n_new) {
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
    copy_host_to_device(in.key_mask, in.mask_host.data());
  }
  if (swa_.enabled()) plan_swa(new_mask, n_new, past);
  ALISA_CHECK(past > 0 || n_new >= recompute_below_, "cache_recompute_percent keeps ",
              recompute_below_, " positions as hidden states but the prompt step has ", n_new);

  // The block schedule. Weight copies run one streamed layer ahead (queue_weight_loads), their
  // disk reads one further; cache and hidden-state loads one (layer, batch) ahead.
  std::fill(std::begin(layer_done_), std::end(layer_done_), nullptr);
  std::fill(std::begin(weights_ready_), std::end(weights_ready_), nullptr);
  for (SlotEvents& slot : slots_) slot = {};
  qkv_queued_unit_ = -1;
  std::fill(hidden_stored_.begin(), hidden_stored_.end(), nullptr);
  next_load_ = next_read_ = 0;
  while (next_read_ < std::min<size_t>(2, streamed_layers_.size())) {
    read_weights_from_disk(next_read_++);
  }
  queue_weight_loads(0);
  prefetch(0, n_new, past);
  for (int64_t j = 0; j < spec_.n_layers; ++j) {
    queue_weight_loads(j);
    const int ws = weight_slot_of(j);
    if (ws >= 0) copies_.wait(Queue::kCompute, *weights_ready_[ws]);
    const LayerWeights w = layer_weights(j);
    for (int64_t k = 0; k < n_batches; ++k) {
      // The next unit's slot (that of unit - 1, already queued to store) loads while this one
      // computes.
      const int64_t unit = j * n_batches + k;
      prefetch(unit + 1, n_new, past);
      compute(unit, w, n_new, past);
      store(unit, n_new, past);
    }
    if (ws >= 0) {
      layer_done_[ws] = slots_[static_cast<int>((j * n_batches + n_batches - 1) % 2)].computed;
    }
  }
  length_ += n_new;
  tiers_.compute->synchronize();
  for (int s = 0; s < 2; ++s) finish_disk_writes(s);  // their events are settled next
  copies_.settle();
}

std::vector<float> BlockRunner::logits_to_host() const {
  std::vector<float> host(static_cast<size_t>(logits_.numel()));
  copy_device_to_host(host.data(), logits_);
  return host;
}

std::vector<int32_t> BlockRunner::sample(const SamplingSettings& settings,
                                         std::span<const uint64_t> rng_keys, uint64_t step) {
  const int64_t block = shape_.block_size();
  ALISA_ASSERT(static_cast<int64_t>(rng_keys.size()) == block, "one sampling key per sequence");
  copy_host_to_device(rng_keys_, rng_keys.data());
  ops_.sample(logits_, rng_keys_, step, settings, sampled_);
  std::vector<int32_t> tokens(static_cast<size_t>(block));
  copy_device_to_host(tokens.data(), sampled_);
  return tokens;
}

}  // namespace alisa
