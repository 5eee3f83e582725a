#include "runtime/jobs/auto_policy.h"

#include <algorithm>

#include "runtime/jobs/engine.h"
#include "runtime/model/tensor_shapes.h"

namespace alisa {

MemoryCaps planning_caps(const HardwareProfile& hw, const PlanRequest& r) {
  MemoryCaps caps;
  caps.gpu_bytes = r.gpu_memory_limit != 0 ? r.gpu_memory_limit
                   : hw.gpu_memory_bytes > kGpuReserveBytes
                       ? hw.gpu_memory_bytes - kGpuReserveBytes
                       : 1;  // a profile without room for a plan: nothing fits, and says so
  caps.cpu_bytes =
      r.cpu_memory_limit != 0
          ? r.cpu_memory_limit
          : static_cast<uint64_t>(kCpuShare * static_cast<double>(hw.cpu_memory_bytes));
  caps.disk_bytes = hw.disk_bytes;
  return caps;
}

CostInputs plan_cost_inputs(const ModelSpec& spec, const HardwareProfile& hw,
                            const PlanRequest& r) {
  validate(r.swa, "swa");
  const int64_t capacity = r.workload.prompt_len + r.workload.gen_len;
  ALISA_CHECK(r.workload.prompt_len >= 1 && r.workload.gen_len >= 1, "workload: prompt_len and ",
              "gen_len must be at least 1, got ", r.workload.prompt_len, " and ",
              r.workload.gen_len);
  ALISA_CHECK(capacity <= spec.max_positions, "workload: prompt_len + gen_len (",
              r.workload.prompt_len, " + ", r.workload.gen_len, ") is more than ", spec.name,
              "'s max_positions ", spec.max_positions);
  check_within_sliding_window(spec, capacity);
  CostInputs in;
  in.model = model_footprint(spec);
  in.workload = r.workload;
  in.hardware = hw;
  in.swa = r.swa;
  in.cpu_threads = r.threads;
  in.tensors = tensor_shapes(weight_layout(spec));
  in.activation_bytes = dtype_size(r.activation_dtype);
  return in;
}

int64_t cache_position_limit(const ModelSpec& spec) {
  return spec.sliding_window > 0 ? std::min(spec.max_positions, spec.sliding_window)
                                 : spec.max_positions;
}

namespace {

// A job's request with its workload the longest prompt and generation: the checks of
// plan_cost_inputs then hold for the least capacity.
PlanRequest longest_request(const PlanRequest& r) {
  PlanRequest out = r;
  const SequenceLengths longest = longest_lengths(r.job->sequences);
  out.workload = {.prompt_len = longest.prompt_len, .gen_len = longest.gen_len};
  return out;
}

std::vector<int64_t> capacities_of(const PlanRequest& r, const ModelSpec& spec) {
  if (r.job_capacity == 0) {
    return job_capacities(r.job->sequences, r.job->refill, cache_position_limit(spec));
  }
  ALISA_CHECK(r.job_capacity <= cache_position_limit(spec), "workload: capacity ", r.job_capacity,
              " is more than ", spec.name, "'s ", cache_position_limit(spec), " positions");
  return {r.job_capacity};
}

}  // namespace

SolvedPolicy plan_policy(const PlanRequest& r) {
  const HardwareProfile hw = load_hardware(r.hardware);
  const ModelSpec spec = open_model_spec(r.model);
  SolverOptions options;
  options.caps = planning_caps(hw, r);
  options.max_sequences = r.max_sequences;
  options.allow_compression = r.allow_compression;
  if (r.job) {
    ALISA_CHECK(!r.job->sequences.empty(), "workload: the job has no sequences");
    return solve_job_policy(plan_cost_inputs(spec, hw, longest_request(r)), *r.job,
                            capacities_of(r, spec), options);
  }
  return solve_policy(plan_cost_inputs(spec, hw, r), options);
}

Prediction predict_policy(const PlanRequest& r, const Policy& policy) {
  const HardwareProfile hw = load_hardware(r.hardware);
  const ModelSpec spec = open_model_spec(r.model);
  if (r.job) {
    ALISA_CHECK(!r.job->sequences.empty(), "workload: the job has no sequences");
    return predict(job_cost_inputs(plan_cost_inputs(spec, hw, longest_request(r)), *r.job,
                                   capacities_of(r, spec).front()),
                   policy);
  }
  return predict(plan_cost_inputs(spec, hw, r), policy);
}

std::optional<SolvedPolicy> place_choice(const PlanRequest& r, const Policy& choice) {
  const HardwareProfile hw = load_hardware(r.hardware);
  const CostInputs in = plan_cost_inputs(open_model_spec(r.model), hw, r);
  SolverOptions options;
  options.caps = planning_caps(hw, r);
  std::optional<SolvedPolicy> best;
  // The solver's rule: the cache wholly on the GPU only where no attention choice or Phase III
  // needs it elsewhere.
  const bool cache_may_stay = !choice.cpu_attention && choice.cache_recompute_percent == 0;
  for (const bool cache_on_gpu : {false, true}) {
    if (cache_on_gpu && !cache_may_stay) continue;
    for (const bool activations_on_gpu : {false, true}) {
      const std::optional<Policy> placed =
          place_policy(in, choice, options, {cache_on_gpu, activations_on_gpu});
      if (!placed) continue;
      Prediction prediction = predict(in, *placed);
      if (!best || prediction.total_throughput > best->prediction.total_throughput) {
        best = SolvedPolicy{*placed, std::move(prediction), {}, 1};
      }
    }
  }
  if (best) best->limits = describe_prediction(best->prediction, options.caps);
  return best;
}

SolvedPolicy explain_policy(const PlanRequest& r, const Policy& policy) {
  SolvedPolicy solved;
  solved.policy = policy;
  solved.prediction = predict_policy(r, policy);
  solved.limits =
      describe_prediction(solved.prediction, planning_caps(load_hardware(r.hardware), r));
  return solved;
}

}  // namespace alisa
