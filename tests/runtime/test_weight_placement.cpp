// Weight placement: what a policy's weight percentages put on each tier and the slots the block
// schedule needs, computed before loading, against what a WeightStore then allocates.
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <vector>

#include "policy/weight_placement.h"
#include "runtime/core/device.h"
#include "runtime/model/model_spec.h"
#include "runtime/model/tensor_shapes.h"
#include "runtime/model/weights.h"
#include "runtime/schedule/block_memory.h"
#include "runtime/schedule/weight_store.h"
#include "tests/test_support.h"

using alisa::DType;
using alisa::PlacedWeights;
using alisa::Policy;
using alisa::Tier;

namespace {

uint64_t on(const PlacedWeights& w, Tier tier) {
  return w.tier_bytes[static_cast<int>(tier)];
}

}  // namespace

TEST_CASE("place_weights sizes the slots for the largest layer's share, not the mean",
          "[weights]") {
  // OPT-1.3B with 4.5% of its weights on the GPU and 31% on the CPU: the MLP's matrices are
  // four times the attention's, so a layer's part off the GPU varies by whole tensors.
  const alisa::ModelSpec spec = alisa::named_model_spec("opt-1.3b");
  Policy p;
  p.weights_gpu_percent = 4.5;
  p.weights_cpu_percent = 31;
  const PlacedWeights w = place_weights(alisa::tensor_shapes(alisa::weight_layout(spec)), 2,
                                        alisa::weight_placement_of(p));
  const alisa::WeightBytes mean = alisa::mean_weight_bytes(alisa::model_footprint(spec), p);
  CHECK(on(w, Tier::kCompute) + on(w, Tier::kCpu) + on(w, Tier::kDisk) ==
        static_cast<uint64_t>(spec.n_parameters()) * 2);
  // Every tier within one tensor (OPT-1.3B's largest: 2048 x 8192 f16) of the mean plan.
  const auto near = [](uint64_t a, uint64_t b) {
    return (a > b ? a - b : b - a) <= uint64_t{2048} * 8192 * 2;
  };
  CHECK(near(on(w, Tier::kCompute), mean.gpu));
  CHECK(near(on(w, Tier::kCpu), mean.cpu));
  CHECK(near(on(w, Tier::kDisk), mean.disk));
  // The slot holds the largest layer's non-resident part, the staging its disk part: more than
  // the mean layer's (what the plan counted before, and the pinned tier then refused).
  CHECK(2 * w.slot_bytes > mean.gpu_buffers);
  CHECK(2 * w.staging_bytes > mean.cpu_buffers);
}

TEST_CASE("layer_disk_reads gives each layer's disk-resident matrices", "[weights]") {
  // OPT-30B with 3.8% on disk: whole 7168 x 7168 matrices (103 MB) in every other layer or so,
  // not 3.8% of every layer (what the cost model's stages assume, and the stall prices).
  const alisa::ModelSpec spec = alisa::named_model_spec("opt-30b");
  Policy p;
  p.weights_gpu_percent = 14.07;
  p.weights_cpu_percent = 82.13;
  const std::vector<alisa::TensorShape> layout = alisa::tensor_shapes(alisa::weight_layout(spec));
  const PlacedWeights w = place_weights(layout, 2, alisa::weight_placement_of(p));
  const std::vector<alisa::LayerDiskRead> reads = alisa::layer_disk_reads(layout, w);
  REQUIRE(reads.size() <= static_cast<size_t>(spec.n_layers));
  double bytes = 0;
  int64_t layers_reading = 0;
  for (const alisa::LayerDiskRead& read : reads) {
    bytes += read.bytes;
    layers_reading += read.requests > 0;
    CHECK((read.requests == 0 || read.bytes >= 7168.0 * 7168 * 2));
  }
  CHECK(bytes == static_cast<double>(on(w, Tier::kDisk)));
  CHECK(layers_reading > 0);
  CHECK(layers_reading < spec.n_layers);
  // Nothing on disk: no reads.
  p.weights_cpu_percent = 100 - p.weights_gpu_percent;
  for (const alisa::LayerDiskRead& read :
       alisa::layer_disk_reads(layout, place_weights(layout, 2, alisa::weight_placement_of(p)))) {
    CHECK(read.requests == 0);
  }
}

TEST_CASE("the block memory plan counts the weights a WeightStore allocates", "[weights]") {
  const alisa::ModelSpec spec = alisa::named_model_spec("opt-125m");
  Policy p;
  p.weights_gpu_percent = 10;
  p.weights_cpu_percent = 30;
  const alisa::test::ScratchDir dir;
  alisa::CpuDevice compute, cpu;
  const alisa::Tiers tiers{
      .compute = &compute, .cpu = &cpu, .cpu_weights = &cpu, .disk_dir = dir.path()};
  const std::unique_ptr<alisa::WeightSource> source = alisa::make_dummy_weights(7);
  const alisa::WeightStore store(spec, *source, tiers, DType::kF32, alisa::weight_placement_of(p));
  const alisa::MemoryPlan plan = alisa::block_memory_plan(spec, {}, p, 16, 8, DType::kF32, false);
  CHECK(plan.gpu.weights == compute.used_bytes());
  CHECK(plan.cpu.weights == cpu.used_bytes());
  CHECK(plan.gpu.weights == store.bytes_on(Tier::kCompute));
  CHECK(plan.disk.weights == store.bytes_on(Tier::kDisk));
  const PlacedWeights placed = place_weights(alisa::tensor_shapes(alisa::weight_layout(spec)), 4,
                                             alisa::weight_placement_of(p));
  CHECK(placed.slot_bytes == store.slot_bytes());
  CHECK(placed.staging_bytes == store.staging_bytes());
  CHECK(placed.dense_slot_bytes == store.dense_slot_bytes());
}
