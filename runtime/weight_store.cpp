#include "runtime/weight_store.h"

#include <unistd.h>

#include "kernels_cpu/convert_cpu.h"
#include "kernels_cpu/quantize_cpu.h"

namespace alisa {
namespace {

constexpr size_t kSlotAlignment = 256;   // every tensor in a slot starts on a GPU-friendly bound
constexpr size_t kFileAlignment = 4096;  // and in the offload file on an O_DIRECT block

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// A compressed tensor as stored: the packed int4 values, then the f16 scales, then the f16
// minima (one of each per group), each part on a slot alignment bound.
struct Int4Layout {
  explicit Int4Layout(int64_t n)
      : n_groups(int4_n_groups(n, kInt4Group)),
        scale_offset(round_up(static_cast<size_t>(int4_packed_bytes(n)), kSlotAlignment)),
        min_offset(scale_offset + round_up(static_cast<size_t>(n_groups) * 2, kSlotAlignment)),
        total(min_offset + static_cast<size_t>(n_groups) * 2) {}
  int64_t n_groups;
  size_t scale_offset, min_offset, total;
};

// Host buffers a tensor passes through on its way to its tier.
struct HostStaging {
  std::vector<float> values;
  std::vector<uint16_t> narrow;
  std::vector<uint8_t> packed;
};

// The slot's values as stored, in host memory: converted to `dtype`, or int4-compressed.
const void* read_stored(const WeightSource& source, const WeightSlot& slot, DType dtype,
                        bool compress, HostStaging& host) {
  const int64_t n = product(slot.shape);
  host.values.resize(static_cast<size_t>(n));
  source.read_f32(slot, host.values.data());
  if (compress) {
    const Int4Layout layout(n);
    host.packed.resize(layout.total);
    quantize_int4_cpu(
        {.x = host.values.data(),
         .x_dtype = DType::kF32,
         .packed = host.packed.data(),
         .scale = reinterpret_cast<uint16_t*>(host.packed.data() + layout.scale_offset),
         .min = reinterpret_cast<uint16_t*>(host.packed.data() + layout.min_offset),
         .n = n,
         .group = kInt4Group});
    return host.packed.data();
  }
  if (dtype == DType::kF32) return host.values.data();
  host.narrow.resize(host.values.size());
  convert_cpu({.x = host.values.data(),
               .out = host.narrow.data(),
               .n = n,
               .x_dtype = DType::kF32,
               .out_dtype = dtype});
  return host.narrow.data();
}

// Layer matrices are compressed; vectors (biases, norms) are too small to gain.
bool compressible(const WeightSlot& slot, const WeightPlacement& placement) {
  return placement.compress && slot.layer >= 0 && slot.shape.size() == 2;
}

}  // namespace

WeightStore::WeightStore(const ModelSpec& spec, const WeightSource& source, const Tiers& tiers,
                         DType dtype, const WeightPlacement& placement)
    : dtype_(dtype), compute_(tiers.compute) {
  ALISA_ASSERT(dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16, "weights in ",
               dtype_name(dtype));
  ALISA_CHECK(!placement.compress || dtype != DType::kBF16,
              "compress_weights dequantises to float16 or float32, not bfloat16");
  const std::vector<WeightSlot> layout = weight_layout(spec);
  source.validate(layout);
  resident_.resize(static_cast<size_t>(spec.n_layers));
  layers_.resize(static_cast<size_t>(spec.n_layers));

  // Bytes of each tensor as stored.
  std::vector<size_t> stored_bytes(layout.size());
  for (size_t i = 0; i < layout.size(); ++i) {
    const int64_t n = product(layout[i].shape);
    stored_bytes[i] = compressible(layout[i], placement)
                          ? Int4Layout(n).total
                          : static_cast<size_t>(n) * dtype_size(dtype);
  }
  // Placement of the layer tensors, in checkpoint order, by their stored bytes.
  std::vector<uint64_t> sizes;
  for (size_t i = 0; i < layout.size(); ++i) {
    if (layout[i].layer >= 0) sizes.push_back(stored_bytes[i]);
  }
  const std::vector<Tier> placed =
      place_by_percent(sizes, placement.compute_percent, placement.cpu_percent);

  // Disk tensors are read where they lie when the checkpoint stores them in `dtype`; the rest
  // go to an offload file, laid out before anything is written.
  std::vector<std::optional<FileRegion>> regions(layout.size());
  uint64_t offload_bytes = 0;
  std::vector<uint64_t> offload_offset(layout.size(), 0);
  for (size_t i = 0, l = 0; i < layout.size(); ++i) {
    if (layout[i].layer < 0) continue;
    if (placed[l++] != Tier::kDisk) continue;
    if (!compressible(layout[i], placement)) regions[i] = source.stored_region(layout[i], dtype);
    if (!regions[i]) {
      offload_offset[i] = offload_bytes;
      offload_bytes += round_up(stored_bytes[i], kFileAlignment);
    }
  }
  DiskFile* offload = nullptr;
  if (offload_bytes > 0) {
    std::filesystem::create_directories(tiers.disk_dir);
    const std::filesystem::path path =
        tiers.disk_dir / ("alisa-weights-" + std::to_string(::getpid()) + ".bin");
    auto file = std::make_unique<DiskFile>(DiskFile::create(path, offload_bytes));
    offload = file.get();
    files_[path] = std::move(file);
  }

  HostStaging host;
  std::vector<size_t> slot_used(layers_.size(), 0), staging_used(layers_.size(), 0),
      dense_used(layers_.size(), 0);
  for (size_t i = 0, l = 0; i < layout.size(); ++i) {
    const WeightSlot& slot = layout[i];
    const bool compress = compressible(slot, placement);
    const Tier tier = slot.layer >= 0 ? placed[l++] : Tier::kCompute;
    const size_t n_bytes = stored_bytes[i];
    tier_bytes_[static_cast<int>(tier)] += n_bytes;
    StoredTensor stored;
    stored.field = slot.layer_field;
    stored.tier = tier;
    stored.n_bytes = n_bytes;
    stored.compressed = compress;
    stored.numel = product(slot.shape);
    stored.shape = slot.shape;
    if (tier == Tier::kDisk) {
      if (regions[i]) {
        auto it = files_.find(regions[i]->file);
        if (it == files_.end()) {
          it = files_
                   .emplace(regions[i]->file,
                            std::make_unique<DiskFile>(DiskFile::open_read(regions[i]->file)))
                   .first;
        }
        stored.file = it->second.get();
        stored.file_offset = regions[i]->offset;
      } else {
        offload->write(offload_offset[i], read_stored(source, slot, dtype, compress, host),
                       n_bytes);
        stored.file = offload;
        stored.file_offset = offload_offset[i];
      }
    } else {
      Device& device = tier == Tier::kCompute ? *tiers.compute : *tiers.cpu_weights;
      const int64_t packed_shape[1] = {static_cast<int64_t>(n_bytes)};
      OwnedTensor owned = compress
                              ? allocate_tensor(device, DType::kU8, packed_shape, 1, slot.name)
                              : allocate_tensor(device, dtype, slot.shape.data(),
                                                static_cast<int>(slot.shape.size()), slot.name);
      copy_host_to_device(owned.tensor, read_stored(source, slot, dtype, compress, host));
      stored.home = owned.tensor;
      buffers_.push_back(std::move(owned.buffer));
    }
    if (slot.layer < 0) {
      globals_.*slot.global_field = stored.home;
      continue;
    }
    const size_t j = static_cast<size_t>(slot.layer);
    if (compress) {
      stored.dense_offset = dense_used[j];
      dense_used[j] +=
          round_up(static_cast<size_t>(stored.numel) * dtype_size(dtype), kSlotAlignment);
    }
    if (tier == Tier::kCompute) {
      if (!compress) resident_[j].*slot.layer_field = stored.home;
    } else {
      stored.slot_offset = slot_used[j];
      slot_used[j] += round_up(n_bytes, kSlotAlignment);
      if (tier == Tier::kDisk) {
        stored.staging_offset = staging_used[j];
        staging_used[j] += round_up(n_bytes, kSlotAlignment);
      }
    }
    layers_[j].push_back(std::move(stored));
  }
  if (spec.tie_word_embeddings) globals_.lm_head = globals_.token_embedding;
  for (size_t j = 0; j < layers_.size(); ++j) {
    slot_bytes_ = std::max(slot_bytes_, slot_used[j]);
    staging_bytes_ = std::max(staging_bytes_, staging_used[j]);
    dense_slot_bytes_ = std::max(dense_slot_bytes_, dense_used[j]);
  }
}

WeightStore::~WeightStore() = default;

const LayerWeights& WeightStore::resident_layer(int64_t j) const {
  ALISA_ASSERT(fully_resident(), "layer ", j, " is not resident on the compute device");
  return resident_.at(static_cast<size_t>(j));
}

bool WeightStore::layer_on_disk(int64_t j) const {
  for (const StoredTensor& t : layers_.at(static_cast<size_t>(j))) {
    if (t.tier == Tier::kDisk) return true;
  }
  return false;
}

std::vector<std::future<void>> WeightStore::read_disk(int64_t j, void* staging, CopyEngine& copies,
                                                      const Event* after) const {
  std::vector<std::future<void>> reads;
  if (!layer_on_disk(j)) return reads;
  if (after != nullptr) copies.host_wait(*after);  // the staging's previous copies are done
  for (const StoredTensor& t : layers_.at(static_cast<size_t>(j))) {
    if (t.tier != Tier::kDisk) continue;
    reads.push_back(copies.read_disk(*t.file, t.file_offset,
                                     static_cast<char*>(staging) + t.staging_offset, t.n_bytes,
                                     str("layer ", j, " weights")));
  }
  return reads;
}

uint64_t WeightStore::queue_load(int64_t j, void* slot, const void* staging,
                                 CopyEngine& copies) const {
  uint64_t bytes = 0;
  for (const StoredTensor& t : layers_.at(static_cast<size_t>(j))) {
    if (t.tier == Tier::kCompute) continue;
    const void* src =
        t.tier == Tier::kCpu ? t.home.data() : static_cast<const char*>(staging) + t.staging_offset;
    copies.copy(Queue::kWeightsIn, static_cast<char*>(slot) + t.slot_offset, src, t.n_bytes,
                Link::kCpuToGpu);
    bytes += t.n_bytes;
  }
  return bytes;
}

LayerWeights WeightStore::layer(int64_t j, void* slot, void* dense_slot, Ops& ops) const {
  LayerWeights w = resident_.at(static_cast<size_t>(j));
  for (const StoredTensor& t : layers_.at(static_cast<size_t>(j))) {
    if (t.tier == Tier::kCompute && !t.compressed) continue;
    char* stored = t.tier == Tier::kCompute ? static_cast<char*>(t.home.data())
                                            : static_cast<char*>(slot) + t.slot_offset;
    if (!t.compressed) {
      w.*t.field =
          Tensor(stored, compute_, dtype_, t.shape.data(), static_cast<int>(t.shape.size()));
      continue;
    }
    const Int4Layout layout(t.numel);
    const Tensor dense(static_cast<char*>(dense_slot) + t.dense_offset, compute_, dtype_,
                       t.shape.data(), static_cast<int>(t.shape.size()));
    ops.dequantize_int4(
        Tensor(stored, compute_, DType::kU8, {int4_packed_bytes(t.numel)}),
        Tensor(stored + layout.scale_offset, compute_, DType::kF16, {layout.n_groups}),
        Tensor(stored + layout.min_offset, compute_, DType::kF16, {layout.n_groups}), dense);
    w.*t.field = dense;
  }
  return w;
}

}  // namespace alisa
