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
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "policy/block_plan.h"
#include "policy/footprint.h"
#include "policy/hardware.h"
#include "policy/job_schedule.h"
#include "policy/length_distribution.h"
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

// The schedules of a job already simulated, by shape: the solver prices many policies of each
// block.
struct JobScheduleCache;
std::shared_ptr<JobScheduleCache> new_job_schedule_cache();

// A job of sequences of uneven lengths, priced step by step over its simulated schedule
// (policy/job_schedule.h) instead of as one block of equal sequences.
struct JobWorkload {
  std::vector<SequenceLengths> sequences;  // in job order
  bool refill = false;
  // Shared by the copies of the job (its sequences are not changed after it is made).
  std::shared_ptr<JobScheduleCache> schedules = new_job_schedule_cache();
};

struct CostInputs {
  ModelFootprint model;
  // Without `job`: every sequence has this prompt (the padded prompt step) and generates gen_len
  // tokens. With it: prompt_len is the job's longest prompt and prompt_len + gen_len the cache's
  // capacity C per row (job_cost_inputs sets both), which is what the memory plan is of.
  Workload workload;
  std::optional<JobWorkload> job = std::nullopt;
  HardwareProfile hardware;
  SwaOptions swa;           // dense attention unless swa.enabled()
  int64_t cpu_threads = 0;  // CPU attention workers; 0: every core of the profile
  // The model's stored weights in checkpoint order: the plan places them tensor by tensor and
  // each layer's disk read is priced. Empty: every layer holds (and reads) its mean share.
  std::vector<TensorShape> tensors;
  size_t activation_bytes = 2;  // the run's activation dtype: 2 on GPU runs, 4 on CPU runs
};

// `in` for `job` with a cache of `capacity` positions per row: the workload becomes (the longest
// prompt, capacity - longest prompt). Throws alisa::Error for an empty job or a capacity below
// the longest prompt + the longest generation - 1 (a block that cannot finish).
CostInputs job_cost_inputs(CostInputs in, JobWorkload job, int64_t capacity);
// The schedule `policy` runs `in.job` with: its block, the capacity, Phase III's kept positions
// (with SWA) and refill.
JobShape job_shape(const CostInputs& in, const Policy& policy);

// A job's steps as the cost model prices them: in groups by their write index (8 ranges of the
// capacity for prefills, 16 for decode steps, those with lanes apart from those without), each
// priced at its mean index with its lanes' costs spread over its steps.
struct JobStepGroup {
  int64_t steps = 0;
  int64_t index_sum = 0;
  std::vector<std::pair<int64_t, int64_t>> lane_prompts;  // (prompt length, lanes), decode only
  double mean_index() const;
};
struct JobStepGroups {
  std::vector<JobStepGroup> prefills, decodes;  // the groups with steps
  JobSchedule totals;                           // the schedule's totals (its steps dropped)
};
inline constexpr int64_t kJobPrefillRanges = 8;
inline constexpr int64_t kJobDecodeRanges = 16;
JobStepGroups group_job_steps(const JobSchedule& schedule, int64_t capacity);
// group_job_steps(simulate_job(job.sequences, shape)), simulated once per shape.
const JobStepGroups& job_step_groups(const JobWorkload& job, const JobShape& shape);

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

// What a job's schedule adds to its prediction.
struct JobPrediction {
  bool refill = false;
  int64_t capacity = 0;  // C
  int64_t sequences = 0;
  int64_t generated_tokens = 0;
  int64_t prefills = 0;  // blocks
  int64_t decode_steps = 0;
  int64_t lanes = 0;  // requests started by refill
  int64_t slot_steps = 0;
  int64_t idle_slot_steps = 0;
  double idle_share = 0;
  double seconds = 0;            // prefill_s + decode_s
  double useful_throughput = 0;  // generated_tokens / seconds
};

struct Prediction {
  // Without a job: one block's prompt step, its gen_len - 1 decode steps, block_size * gen_len /
  // (prefill_s + decode_s) and block_size * (gen_len - 1) / decode_s (bench's definitions).
  // With a job: every block's prompt step, every decode step (lanes included), the useful
  // throughput (the sequences' generated tokens over the job's time) and the decode steps'
  // tokens over decode_s.
  double prefill_s = 0;
  double decode_s = 0;
  double total_throughput = 0;
  double decode_throughput = 0;
  std::vector<ResourceShare> prefill, decode;  // every resource, busy time
  std::string bottleneck;                      // the resource that bounds most of the decode time
  double bottleneck_share = 0;                 // the fraction of the decode time it bounds
  // Of prefill_s + decode_s: the waits for layers whose disk read outlasts the layer it runs
  // under (the schedule reads a layer's disk weights while the layer two before it computes).
  double weight_read_stall_s = 0;
  MemoryPlan memory;  // peak bytes per tier
  std::optional<JobPrediction> job = std::nullopt;
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
