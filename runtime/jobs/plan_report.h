// What `alisa plan` reports, in one layout for the CLI and the Python package: the policy YAML
// with its header, and the JSON of `--json` (the prediction's times, every resource's busy time
// per phase, the memory per tier, the limits).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "runtime/jobs/auto_policy.h"

namespace alisa {

// The policy YAML `alisa plan` prints: a header saying what chose it (the solver, or the cost
// model predicting `policy_source` when that is not empty), the model, the workload and the
// hardware, then solved_policy_yaml.
std::string plan_yaml(const PlanRequest& request, const SolvedPolicy& solved,
                      const std::string& policy_source);

nlohmann::json prediction_json(const Prediction& prediction);

// `alisa plan --json`: {"policy_yaml", "prediction", "limits", "candidates"}.
nlohmann::json plan_json(const SolvedPolicy& solved, const std::string& policy_yaml);

// The cost model's stages for `policy` under the request (the prefill of a layer, the decode
// steps of a layer over a range of cache lengths, the head): each with its repeat count, every
// resource's seconds at the policy's placement, and the stage's time (the largest of them).
nlohmann::json stages_json(const PlanRequest& request, const Policy& policy);

}  // namespace alisa
