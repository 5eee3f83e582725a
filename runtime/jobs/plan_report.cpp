#include "runtime/jobs/plan_report.h"

#include <algorithm>

#include "runtime/jobs/engine.h"

namespace alisa {
namespace {

nlohmann::json resources_json(const std::vector<ResourceShare>& shares) {
  nlohmann::json out = nlohmann::json::object();
  for (const ResourceShare& r : shares) {
    out[r.resource] = {{"per_layer_s", r.per_layer_s}, {"total_s", r.total_s}};
  }
  return out;
}

nlohmann::json tier_json(const TierBytes& t) {
  return {{"weights", t.weights},
          {"cache", t.cache},
          {"activations", t.activations},
          {"workspace", t.workspace},
          {"total", t.total()}};
}

}  // namespace

std::string plan_yaml(const PlanRequest& request, const SolvedPolicy& solved,
                      const std::string& policy_source) {
  const std::string what = policy_source.empty()
                               ? "# chosen by alisa plan (the policy solver)\n"
                               : str("# the cost model's prediction for ", policy_source, "\n");
  const std::string header =
      str(what, "# model ", request.model, ", prompt_len ", request.workload.prompt_len,
          ", gen_len ", request.workload.gen_len, ", hardware ", request.hardware.string(),
          request.swa.enabled() ? str(", swa sparsity ", request.swa.sparsity) : "", "\n");
  return solved_policy_yaml(solved, header);
}

nlohmann::json prediction_json(const Prediction& p) {
  return {{"prefill_s", p.prefill_s},
          {"decode_s", p.decode_s},
          {"total_throughput", p.total_throughput},
          {"decode_throughput", p.decode_throughput},
          {"bottleneck", p.bottleneck},
          {"bottleneck_share", p.bottleneck_share},
          {"prefill", resources_json(p.prefill)},
          {"decode", resources_json(p.decode)},
          {"memory",
           {{"gpu", tier_json(p.memory.gpu)},
            {"cpu", tier_json(p.memory.cpu)},
            {"disk", tier_json(p.memory.disk)}}}};
}

nlohmann::json plan_json(const SolvedPolicy& solved, const std::string& policy_yaml) {
  return {{"policy_yaml", policy_yaml},
          {"prediction", prediction_json(solved.prediction)},
          {"limits", solved.limits},
          {"candidates", solved.candidates}};
}

nlohmann::json stages_json(const PlanRequest& request, const Policy& policy) {
  const HardwareProfile hw = load_hardware(request.hardware);
  const CostInputs in = plan_cost_inputs(open_model_spec(request.model), hw, request);
  const Placement x = placement_of(policy);
  nlohmann::json out = nlohmann::json::array();
  for (const Stage& stage : cost_stages(in, policy)) {
    nlohmann::json resources = nlohmann::json::object();
    double longest = 0;
    for (const ResourceTime& r : stage.resources) {
      const double seconds = r.seconds.at(x);
      resources[r.resource] = seconds;
      longest = std::max(longest, seconds);
    }
    out.push_back({{"name", stage.name},
                   {"decode", stage.decode},
                   {"count", stage.count},
                   {"seconds", longest},
                   {"resources", resources}});
  }
  return out;
}

}  // namespace alisa
