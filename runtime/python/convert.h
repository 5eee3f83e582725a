// Python values to alisa's structs and back, for the bindings: every value from Python is checked
// here (or by the C++ it reaches) and a bad one is an alisa::Error naming it, which the module
// turns into alisa.Error.
#pragma once

#include <pybind11/pybind11.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "policy/policy.h"
#include "runtime/jobs/auto_policy.h"

namespace alisa::python {

namespace py = pybind11;

// A JSON value as the Python objects json.loads makes (dicts, lists, floats, ints, str, None).
py::object to_python(const nlohmann::json& value);

// A path: str or os.PathLike.
std::string path_string(const py::handle& path, const std::string& what);

// A byte count: an int, or a size string ("14.5GiB"); None is 0 (no cap).
uint64_t byte_size(const py::handle& value, const std::string& what);

// SWA's options from None (dense) or a dict of sparsity, window_max, granularity, score,
// min_tokens, gamma (the run YAML's `swa:` keys); validated.
SwaOptions swa_options(const py::handle& swa);

// A policy and the name its messages and the plan's header give it: an alisa.Policy, a dict of
// its settings, or the path of a policy YAML.
struct GivenPolicy {
  Policy policy;
  std::string source;
};
GivenPolicy given_policy(const py::handle& policy);

// A policy from a mapping of its YAML keys to Python values (bool, int, float, "auto"): the same
// checks as a policy file's.
Policy policy_from_settings(const py::dict& settings, const std::string& source);
py::dict policy_dict(const Policy& policy);

// The request of plan(), place() and predict(): their shared keyword arguments. dtype is the
// run's activation type: "f16" or "bf16" (GPU runs), "f32" (CPU runs).
PlanRequest plan_request(const std::string& model, const py::handle& hardware, int64_t prompt_len,
                         int64_t gen_len, int64_t sequences, const py::handle& gpu_memory_limit,
                         const py::handle& cpu_memory_limit, int64_t threads, const py::handle& swa,
                         bool allow_compression, const std::string& dtype);

}  // namespace alisa::python
