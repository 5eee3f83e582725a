// Policy (validated, immutable: changes make a new one), and the cost model and solver as
// predict() and plan(), which return what `alisa plan --json` prints plus the cost model's stages.
#include <pybind11/stl.h>

#include <set>

#include "runtime/jobs/plan_report.h"
#include "runtime/python/bindings.h"
#include "runtime/python/convert.h"

namespace alisa::python {
namespace {

// `alisa plan --json`'s object, the policy as an alisa.Policy, and the per-stage breakdown.
py::dict plan_result(const PlanRequest& request, const SolvedPolicy& solved,
                     const std::string& policy_source) {
  nlohmann::json json;
  {
    py::gil_scoped_release release;
    json = plan_json(solved, plan_yaml(request, solved, policy_source));
    json["prediction"]["weight_read_stall_s"] = solved.prediction.weight_read_stall_s;
    json["stages"] = stages_json(request, solved.policy);
  }
  py::dict out = to_python(json);
  out["policy"] = py::cast(solved.policy);
  return out;
}

}  // namespace

void bind_policy(py::module_& m) {
  py::class_<Policy>(m, "Policy",
                     "Where weights, KV cache and activations live and how the block is shaped "
                     "(a policy YAML's keys; validated, immutable)")
      .def(py::init([](const py::kwargs& settings) {
             return policy_from_settings(settings, "alisa.Policy(...)");
           }),
           "Policy(**settings): the keys of a policy YAML (docs/CONFIGURATION.md)")
      .def_static(
          "load", [](const py::object& path) { return given_policy(path).policy; }, py::arg("path"),
          "Reads a policy YAML (configs/policies/NAME.yaml)")
      .def_static(
          "from_yaml",
          [](const std::string& text) { return policy_from_yaml(text, "policy YAML text"); },
          py::arg("text"))
      .def("to_yaml", &policy_to_yaml)
      .def("to_dict", &policy_dict, "Every key with its value, in the file's order")
      .def(
          "replace",
          [](const Policy& policy, const py::kwargs& changes) {
            py::dict settings = policy_dict(policy);
            for (const auto& [key, value] : changes) settings[key] = value;
            return policy_from_settings(settings, "alisa.Policy.replace(...)");
          },
          "A copy with some keys changed, checked again")
      .def_readonly("gpu_batch_size", &Policy::gpu_batch_size)
      .def_readonly("num_gpu_batches", &Policy::num_gpu_batches)
      .def_readonly("weights_gpu_percent", &Policy::weights_gpu_percent)
      .def_readonly("weights_cpu_percent", &Policy::weights_cpu_percent)
      .def_readonly("cache_gpu_percent", &Policy::cache_gpu_percent)
      .def_readonly("cache_cpu_percent", &Policy::cache_cpu_percent)
      .def_readonly("activations_gpu_percent", &Policy::activations_gpu_percent)
      .def_readonly("activations_cpu_percent", &Policy::activations_cpu_percent)
      .def_readonly("cpu_attention", &Policy::cpu_attention)
      .def_readonly("pin_weights", &Policy::pin_weights)
      .def_readonly("compress_weights", &Policy::compress_weights)
      .def_readonly("compress_cache", &Policy::compress_cache)
      .def_readonly("cache_recompute_percent", &Policy::cache_recompute_percent)
      .def_readonly("cache_recompute_auto", &Policy::cache_recompute_auto)
      .def_property_readonly("block_size", &Policy::block_size)
      .def(
          "__eq__",
          [](const Policy& a, const Policy& b) { return policy_to_yaml(a) == policy_to_yaml(b); },
          py::is_operator())
      .def("__hash__", [](const Policy& p) { return py::hash(py::str(policy_to_yaml(p))); })
      .def("__repr__", [](const Policy& p) {
        return str("alisa.Policy(", py::str(py::repr(policy_dict(p))).cast<std::string>(), ")");
      });

  // plan(), place() and predict() share their job's keyword arguments.
  const auto request_of = [](const py::object& model, const py::object& hardware,
                             const py::kwargs& job) {
    static const std::set<std::string> known = {"prompt_len",
                                                "gen_len",
                                                "sequences",
                                                "gpu_memory_limit",
                                                "cpu_memory_limit",
                                                "threads",
                                                "swa",
                                                "allow_compression",
                                                "dtype"};
    for (const auto& [key, value] : job) {
      const std::string name = py::str(key).cast<std::string>();
      ALISA_CHECK(known.count(name), "unknown keyword argument '", name, "'");
    }
    const auto get = [&job](const char* key, py::object fallback) {
      return job.contains(key) ? py::reinterpret_borrow<py::object>(job[key]) : fallback;
    };
    ALISA_CHECK(job.contains("prompt_len") && job.contains("gen_len"),
                "the job needs prompt_len and gen_len");
    return plan_request(
        path_string(model, "model"), hardware, get("prompt_len", py::none()).cast<int64_t>(),
        get("gen_len", py::none()).cast<int64_t>(), get("sequences", py::int_(0)).cast<int64_t>(),
        get("gpu_memory_limit", py::none()), get("cpu_memory_limit", py::none()),
        get("threads", py::int_(0)).cast<int64_t>(), get("swa", py::none()),
        get("allow_compression", py::bool_(false)).cast<bool>(),
        get("dtype", py::str("f16")).cast<std::string>());
  };
  m.def(
      "predict",
      [request_of](const py::object& model, const py::object& hardware, const py::object& policy,
                   const py::kwargs& job) {
        const PlanRequest request = request_of(model, hardware, job);
        const GivenPolicy given = given_policy(policy);
        SolvedPolicy solved;
        {
          py::gil_scoped_release release;
          solved = explain_policy(request, given.policy);
        }
        return plan_result(request, solved, given.source);
      },
      py::arg("model"), py::arg("hardware"), py::arg("policy"),
      "The cost model's prediction for a policy (alisa plan --policy FILE --json)");
  m.def(
      "plan",
      [request_of](const py::object& model, const py::object& hardware, const py::kwargs& job) {
        const PlanRequest request = request_of(model, hardware, job);
        SolvedPolicy solved;
        {
          py::gil_scoped_release release;
          solved = plan_policy(request);
        }
        return plan_result(request, solved, "");
      },
      py::arg("model"), py::arg("hardware"), "The solver's policy for a job (alisa plan --json)");
  m.def(
      "place",
      [request_of](const py::object& model, const py::object& hardware, const py::object& choice,
                   const py::kwargs& job) -> py::object {
        const PlanRequest request = request_of(model, hardware, job);
        const GivenPolicy given = given_policy(choice);
        std::optional<SolvedPolicy> solved;
        {
          py::gil_scoped_release release;
          solved = place_choice(request, given.policy);
        }
        if (!solved) return py::none();
        return plan_result(request, *solved, given.source);
      },
      py::arg("model"), py::arg("hardware"), py::arg("choice"),
      "The linear program's placement of a policy's discrete choices (batch shape, "
      "cpu_attention, compression, cache_recompute_percent) and its prediction; None when "
      "nothing fits");
}

}  // namespace alisa::python
