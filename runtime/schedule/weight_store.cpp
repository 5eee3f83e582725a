#include "runtime/schedule/weight_store.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "kernels_cpu/convert_cpu.h"
#include "kernels_cpu/quantize_cpu.h"
#include "runtime/model/tensor_shapes.h"
#include "runtime/tiers/scratch_file.h"

namespace alisa {
namespace {

constexpr size_t kFileAlignment = 4096;  // tensors in the offload file start on an O_DIRECT block

// Host buffers a tensor passes through on its way to its tier.
struct HostStaging {
  std::vector<float> values;
  std::vector<uint16_t> narrow;
  std::vector<uint8_t> packed;
};

// float16 holds magnitudes up to 65504: a weight beyond (a bfloat16 model's, say) would become
// infinity, so the run is refused rather than computed wrong. int4's scales and minima are float16.
void check_float16_range(const std::vector<float>& values, const WeightSlot& slot,
                         const WeightSource& source, bool compress) {
  constexpr float kFloat16Max = 65504.0f;
  const auto beyond = std::find_if(values.begin(), values.end(), [](float v) {
    return std::isfinite(v) && std::fabs(v) > kFloat16Max;
  });
  ALISA_CHECK(beyond == values.end(), source.description(), ": tensor '", slot.name, "' holds ",
              *beyond, ", beyond float16's range (65504), which ",
              compress ? "compress_weights' float16 scales need" : "this float16 run needs",
              "; run it in bfloat16 (--dtype bf16)", compress ? " without compression" : "");
}

// The slot's values as stored, in host memory: converted to `dtype`, or int4-compressed.
// `wider_than_float16`: the checkpoint may hold values beyond float16's range (it is not stored in
// float16), so they are checked wherever float16 holds them.
const void* read_stored(const WeightSource& source, const WeightSlot& slot, DType dtype,
                        bool compress, bool wider_than_float16, HostStaging& host) {
  const int64_t n = numel_of(slot.shape);
  host.values.resize(static_cast<size_t>(n));
  source.read_f32(slot, host.values.data());
  if (wider_than_float16 && (compress || dtype == DType::kF16)) {
    check_float16_range(host.values, slot, source, compress);
  }
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

}  // namespace

WeightStore::WeightStore(const ModelSpec& spec, const WeightSource& source, const Tiers& tiers,
                         DType dtype, const WeightPlacement& placement)
    : dtype_(dtype), compute_(tiers.compute) {
  ALISA_ASSERT(dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16, "weights in ",
               dtype_name(dtype));
  const std::vector<WeightSlot> layout = weight_layout(spec);
  source.validate(layout);
  // A float16 checkpoint (as every named OPT and LLaMA-2 size) holds nothing to check: no pass
  // over its weights at start-up.
  const bool wider_than_float16 = spec.torch_dtype != DType::kF16;
  resident_.resize(static_cast<size_t>(spec.n_layers));
  layers_.resize(static_cast<size_t>(spec.n_layers));

  const PlacedWeights placed = place_weights(tensor_shapes(layout), dtype_size(dtype), placement);
  slot_bytes_ = placed.slot_bytes;
  staging_bytes_ = placed.staging_bytes;
  dense_slot_bytes_ = placed.dense_slot_bytes;
  std::copy(std::begin(placed.tier_bytes), std::end(placed.tier_bytes), tier_bytes_);

  // Disk tensors are read where they lie when the checkpoint stores them in `dtype`; the rest
  // go to an offload file, laid out before anything is written.
  std::vector<std::optional<FileRegion>> regions(layout.size());
  uint64_t offload_bytes = 0;
  std::vector<uint64_t> offload_offset(layout.size(), 0);
  for (size_t i = 0; i < layout.size(); ++i) {
    if (placed.tensors[i].tier != Tier::kDisk) continue;
    if (!placed.tensors[i].compressed) regions[i] = source.stored_region(layout[i], dtype);
    if (!regions[i]) {
      offload_offset[i] = offload_bytes;
      offload_bytes += round_up(placed.tensors[i].n_bytes, kFileAlignment);
    }
  }
  DiskFile* offload = nullptr;
  if (offload_bytes > 0) {
    auto file = create_scratch_file(tiers.disk_dir, "weights", offload_bytes);
    offload = file.get();
    files_[file->path()] = std::move(file);
  }

  HostStaging host;
  for (size_t i = 0; i < layout.size(); ++i) {
    const WeightSlot& slot = layout[i];
    StoredTensor stored;
    static_cast<PlacedTensor&>(stored) = placed.tensors[i];
    stored.field = slot.layer_field;
    stored.shape = slot.shape;
    stored.numel = numel_of(slot.shape);
    if (stored.tier == Tier::kDisk) {
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
        offload->write(
            offload_offset[i],
            read_stored(source, slot, dtype, stored.compressed, wider_than_float16, host),
            stored.n_bytes);
        stored.file = offload;
        stored.file_offset = offload_offset[i];
      }
    } else {
      Device& device = stored.tier == Tier::kCompute ? *tiers.compute : *tiers.cpu_weights;
      const int64_t packed_shape[1] = {static_cast<int64_t>(stored.n_bytes)};
      OwnedTensor owned = stored.compressed
                              ? allocate_tensor(device, DType::kU8, packed_shape, 1, slot.name)
                              : allocate_tensor(device, dtype, slot.shape.data(),
                                                static_cast<int>(slot.shape.size()), slot.name);
      copy_host_to_device(owned.tensor, read_stored(source, slot, dtype, stored.compressed,
                                                    wider_than_float16, host));
      stored.home = owned.tensor;
      buffers_.push_back(std::move(owned.buffer));
    }
    if (slot.layer < 0) {
      globals_.*slot.global_field = stored.home;
      continue;
    }
    const size_t j = static_cast<size_t>(slot.layer);
    if (stored.tier == Tier::kCompute && !stored.compressed) {
      resident_[j].*slot.layer_field = stored.home;
    }
    layers_[j].push_back(std::move(stored));
  }
  if (spec.tie_word_embeddings) globals_.lm_head = globals_.token_embedding;
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

bool WeightStore::layer_streamed(int64_t j) const {
  for (const StoredTensor& t : layers_.at(static_cast<size_t>(j))) {
    if (t.tier != Tier::kCompute) return true;
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
    copies.copy(Queue::kWeightsIn, static_cast<char*>(slot) + t.slot_offset, src, t.n_bytes);
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
