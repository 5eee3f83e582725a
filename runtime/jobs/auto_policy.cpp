#include "runtime/jobs/auto_policy.h"

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

SolvedPolicy plan_policy(const PlanRequest& r) {
  const HardwareProfile hw = load_hardware(r.hardware);
  const ModelSpec spec = open_model_spec(r.model);
  SolverOptions options;
  options.caps = planning_caps(hw, r);
  options.max_sequences = r.max_sequences;
  options.allow_compression = r.allow_compression;
  return solve_policy(plan_cost_inputs(spec, hw, r), options);
}

Prediction predict_policy(const PlanRequest& r, const Policy& policy) {
  const HardwareProfile hw = load_hardware(r.hardware);
  const ModelSpec spec = open_model_spec(r.model);
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
