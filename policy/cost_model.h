// The cost model: what a policy costs a model and workload on a calibrated machine, before
// anything runs. Every time is a sum over the schedule's stages (the prefill of a layer, the
// decode steps of a layer over a range of cache lengths, the head) of the stage's largest
// resource time, because the block schedule overlaps the resources within a layer (weights of
// layer j + 1 and the next unit's cache stream while layer j computes, CPU attention of one GPU
// batch under the GPU work of the next). Each resource time is affine in the six placement
// fractions, which is what lets the solver put the same model into a linear program.
// docs/COST_MODEL.md gives the equations with these names.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/block_plan.h"
#include "policy/footprint.h"
#include "policy/hardware.h"
#include "policy/memory_plan.h"
#include "policy/policy.h"
#include "policy/swa_memory.h"
#include "policy/weight_placement.h"

namespace alisa {

// The continuous part of a policy: placement fractions in [0, 1] (the policy's percentages / 100;
// the disk's share is 1 - gpu - cpu of each kind).
enum PlacementVar : int { kWeightsGpu, kWeightsCpu, kCacheGpu, kCacheCpu, kActGpu, kActCpu };
inline constexpr int kPlacementVars = 6;
using Placement = std::array<double, kPlacementVars>;

Placement placement_of(const Policy& policy);
// The policy with its percentages set from `x` (the rest of it kept).
Policy with_placement(Policy policy, const Placement& x);

// c0 + sum_i c[i] * x[i].
struct Affine {
  double c0 = 0;
  std::array<double, kPlacementVars> c{};
  double at(const Placement& x) const;
};

// One resource's time in one stage (seconds), named for reports ("gpu", "pcie_h2d", ...).
struct ResourceTime {
  std::string resource;
  Affine seconds;
};

// A stage of the schedule that repeats `count` times (layers x steps) at the same cost: its time
// is the largest of its resources'.
struct Stage {
  std::string name;  // "prefill", "decode", "head"
  bool decode = false;
  double count = 0;
  std::vector<ResourceTime> resources;
};

struct CostInputs {
  ModelFootprint model;
  Workload workload;
  HardwareProfile hardware;
  SwaOptions swa;           // dense attention unless swa.enabled()
  int64_t cpu_threads = 0;  // CPU attention workers; 0: every core of the profile
  // The model's stored weights in checkpoint order: the plan places them tensor by tensor and
  // each layer's disk read is priced. Empty: every layer holds (and reads) its mean share.
  std::vector<TensorShape> tensors;
  size_t activation_bytes = 2;  // the run's activation dtype: 2 on GPU runs, 4 on CPU runs
};

// The stages of a policy's discrete choices (its batch shape, cpu_attention, compression,
// cache_recompute_percent); its percentages are not read.
std::vector<Stage> cost_stages(const CostInputs& in, const Policy& policy);

// Seconds of `stages` at placement x: sum of count * max over resources.
double total_seconds(const std::vector<Stage>& stages, const Placement& x);

// A resource's busy time, per layer (or per step for the head) and over the whole phase.
struct ResourceShare {
  std::string resource;
  double per_layer_s = 0;  // prefill: one layer; decode: one layer, averaged over the steps
  double total_s = 0;      // over the phase (every layer, every step)
};

struct Prediction {
  double prefill_s = 0;          // the block's prompt step
  double decode_s = 0;           // gen_len - 1 decode steps
  double total_throughput = 0;   // block_size * gen_len / (prefill_s + decode_s), tokens/s
  double decode_throughput = 0;  // block_size * (gen_len - 1) / decode_s
  std::vector<ResourceShare> prefill, decode;  // every resource, busy time
  std::string bottleneck;                      // the resource that bounds most of the decode time
  double bottleneck_share = 0;                 // the fraction of the decode time it bounds
  // Of prefill_s + decode_s: the waits for layers whose disk read outlasts the layer it runs
  // under (the schedule reads a layer's disk weights while the layer two before it computes).
  double weight_read_stall_s = 0;
  MemoryPlan memory;  // peak bytes per tier
};

// The cost of `policy` (its batch shape, placement, attention and compression choices).
// Throws alisa::Error for a workload the model cannot hold or an invalid policy.
Prediction predict(const CostInputs& in, const Policy& policy);
// The same with each layer's disk read given (predict above places in.tensors for them).
Prediction predict(const CostInputs& in, const Policy& policy,
                   const std::vector<LayerDiskRead>& layer_reads);

// The memory plan of `policy` under `in`: block_memory_plan over the workload's block.
MemoryPlan memory_plan_of(const CostInputs& in, const Policy& policy);

}  // namespace alisa
