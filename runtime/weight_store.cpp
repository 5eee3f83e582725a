#include "runtime/weight_store.h"

#include <unistd.h>

#include "kernels_cpu/convert_cpu.h"

namespace alisa {
namespace {

constexpr size_t kSlotAlignment = 256;   // every tensor in a slot starts on a GPU-friendly bound
constexpr size_t kFileAlignment = 4096;  // and in the offload file on an O_DIRECT block

size_t round_up(size_t n, size_t to) {
  return (n + to - 1) / to * to;
}

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// The slot's values converted to `dtype`, in host memory.
void read_converted(const WeightSource& source, const WeightSlot& slot, DType dtype,
                    std::vector<float>& values, std::vector<uint16_t>& narrow, const void*& bytes) {
  values.resize(static_cast<size_t>(product(slot.shape)));
  source.read_f32(slot, values.data());
  bytes = values.data();
  if (dtype == DType::kF32) return;
  narrow.resize(values.size());
  convert_cpu({.x = values.data(),
               .out = narrow.data(),
               .n = static_cast<int64_t>(values.size()),
               .x_dtype = DType::kF32,
               .out_dtype = dtype});
  bytes = narrow.data();
}

}  // namespace

WeightStore::WeightStore(const ModelSpec& spec, const WeightSource& source, const Tiers& tiers,
                         DType dtype, const WeightPlacement& placement)
    : dtype_(dtype), compute_(tiers.compute) {
  ALISA_ASSERT(dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16, "weights in ",
               dtype_name(dtype));
  const std::vector<WeightSlot> layout = weight_layout(spec);
  source.validate(layout);
  resident_.resize(static_cast<size_t>(spec.n_layers));
  layers_.resize(static_cast<size_t>(spec.n_layers));

  // Placement of the layer tensors, in checkpoint order.
  std::vector<uint64_t> sizes;
  for (const WeightSlot& slot : layout) {
    if (slot.layer >= 0)
      sizes.push_back(static_cast<uint64_t>(product(slot.shape)) * dtype_size(dtype));
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
    regions[i] = source.stored_region(layout[i], dtype);
    if (!regions[i]) {
      offload_offset[i] = offload_bytes;
      offload_bytes += round_up(static_cast<uint64_t>(product(layout[i].shape)) * dtype_size(dtype),
                                kFileAlignment);
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

  std::vector<float> values;
  std::vector<uint16_t> narrow;
  std::vector<size_t> slot_used(layers_.size(), 0), staging_used(layers_.size(), 0);
  for (size_t i = 0, l = 0; i < layout.size(); ++i) {
    const WeightSlot& slot = layout[i];
    const int64_t* shape = slot.shape.data();
    const int rank = static_cast<int>(slot.shape.size());
    const Tier tier = slot.layer >= 0 ? placed[l++] : Tier::kCompute;
    const size_t n_bytes = static_cast<size_t>(product(slot.shape)) * dtype_size(dtype);
    tier_bytes_[static_cast<int>(tier)] += n_bytes;
    StoredTensor stored;
    stored.field = slot.layer_field;
    stored.tier = tier;
    stored.n_bytes = n_bytes;
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
        const void* bytes = nullptr;
        read_converted(source, slot, dtype, values, narrow, bytes);
        offload->write(offload_offset[i], bytes, n_bytes);
        stored.file = offload;
        stored.file_offset = offload_offset[i];
      }
    } else {
      Device& device = tier == Tier::kCompute ? *tiers.compute : *tiers.cpu_weights;
      OwnedTensor owned = allocate_tensor(device, dtype, shape, rank, slot.name);
      const void* bytes = nullptr;
      read_converted(source, slot, dtype, values, narrow, bytes);
      copy_host_to_device(owned.tensor, bytes);
      stored.home = owned.tensor;
      buffers_.push_back(std::move(owned.buffer));
    }
    if (slot.layer < 0) {
      globals_.*slot.global_field = stored.home;
      continue;
    }
    const size_t j = static_cast<size_t>(slot.layer);
    if (tier == Tier::kCompute) {
      resident_[j].*slot.layer_field = stored.home;
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

LayerWeights WeightStore::view(int64_t j, void* slot) const {
  LayerWeights w = resident_.at(static_cast<size_t>(j));
  for (const StoredTensor& t : layers_.at(static_cast<size_t>(j))) {
    if (t.tier == Tier::kCompute) continue;
    w.*t.field = Tensor(static_cast<char*>(slot) + t.slot_offset, compute_, dtype_, t.shape.data(),
                        static_cast<int>(t.shape.size()));
  }
  return w;
}

}  // namespace alisa
