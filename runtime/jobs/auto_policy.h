// `alisa plan` and `policy: auto`: the policy solver (policy/solver.h) and cost model
// (policy/cost_model.h) for a named model, a workload, memory caps and a calibrated machine
// (configs/hardware/NAME.yaml); the model's tensors go with it, so the solver plans with the
// block's exact memory plan (policy/block_plan.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "policy/solver.h"
#include "runtime/base/dtype.h"
#include "runtime/model/model_spec.h"
#include "runtime/program/swa.h"

namespace alisa {

struct PlanRequest {
  std::string model;          // checkpoint folder or dummy:NAME
  Workload workload;          // the padded prompt step and the tokens generated per sequence
  int64_t max_sequences = 0;  // the job's sequences (0: no limit on the block)
  SwaOptions swa;
  std::filesystem::path hardware;  // the calibrated profile
  uint64_t gpu_memory_limit = 0;   // 0: the profile's GPU memory less kGpuReserveBytes
  uint64_t cpu_memory_limit = 0;   // 0: kCpuShare of the profile's host memory
  int64_t threads = 0;             // CPU threads (0: every core)
  bool allow_compression = false;
  DType activation_dtype = DType::kF16;  // float32 on CPU runs
  // A job of uneven lengths (policy/length_distribution.h), planned over its simulated schedule
  // (policy/job_schedule.h): `workload` is then not read, the block is at most the job, and the
  // solver also chooses the cache's capacity per row, among `job_capacity` alone when it is not
  // 0, else among job_capacities (policy/solver.h) within the model's positions.
  std::optional<JobWorkload> job = std::nullopt;
  int64_t job_capacity = 0;
};

// What the CUDA context, cuBLAS and the allocator keep of a GPU that no plan can use, and the
// share of host memory a plan may take when no cap is given.
inline constexpr uint64_t kGpuReserveBytes = uint64_t{3} << 29;  // 1.5 GiB
inline constexpr double kCpuShare = 0.85;

MemoryCaps planning_caps(const HardwareProfile& hardware, const PlanRequest& request);
CostInputs plan_cost_inputs(const ModelSpec& spec, const HardwareProfile& hardware,
                            const PlanRequest& request);

// The most positions a sequence of `spec` may have in alisa: max_positions, and the sliding window
// where the model has one.
int64_t cache_position_limit(const ModelSpec& spec);

// The best policy for the request (errors: unreadable profile, unknown model, nothing fits).
SolvedPolicy plan_policy(const PlanRequest& request);
// The cost model's prediction for a given policy under the same request (a job's at job_capacity,
// or its least capacity when that is 0).
Prediction predict_policy(const PlanRequest& request, const Policy& policy);
// The linear program's placement of `choice`'s discrete part (its batch shape, cpu_attention,
// compression and cache_recompute_percent; its percentages are not read) under the request's
// caps, with its prediction and limits, as the solver prices each of its candidates (the cache
// and the activations wholly on the GPU or not, whichever predicts more). Nothing when no
// placement fits.
std::optional<SolvedPolicy> place_choice(const PlanRequest& request, const Policy& choice);
// The same with the limits `alisa plan` reports for it (what bounds its time, the caps' use).
SolvedPolicy explain_policy(const PlanRequest& request, const Policy& policy);

}  // namespace alisa
