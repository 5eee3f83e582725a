#include "runtime/python/convert.h"

#include <yaml-cpp/yaml.h>

#include <array>

#include "runtime/base/units.h"
#include "runtime/jobs/run_config.h"
#include "runtime/program/swa.h"

namespace alisa::python {

py::object to_python(const nlohmann::json& value) {
  // One parser for both directions keeps floats exact (json round-trips doubles).
  return py::module_::import("json").attr("loads")(value.dump());
}

std::string path_string(const py::handle& path, const std::string& what) {
  try {
    return py::module_::import("os").attr("fspath")(path).cast<std::string>();
  } catch (const py::error_already_set&) {
    throw Error(str(what, " must be a path (str or os.PathLike), got ",
                    py::str(py::type::of(path).attr("__name__")).cast<std::string>()));
  }
}

uint64_t byte_size(const py::handle& value, const std::string& what) {
  if (value.is_none()) return 0;
  if (py::isinstance<py::bool_>(value)) throw Error(str(what, " must be a byte count, got a bool"));
  if (py::isinstance<py::int_>(value)) {
    const int64_t bytes = value.cast<int64_t>();
    ALISA_CHECK(bytes >= 0, what, " must not be negative, got ", bytes);
    return static_cast<uint64_t>(bytes);
  }
  if (py::isinstance<py::str>(value)) return parse_byte_size(value.cast<std::string>(), what);
  throw Error(str(what, " must be an int of bytes or a size such as \"14.5GiB\""));
}

namespace {

std::string type_name(const py::handle& value) {
  return py::str(py::type::of(value).attr("__name__")).cast<std::string>();
}

double number(const py::handle& value, const std::string& what) {
  ALISA_CHECK(!py::isinstance<py::bool_>(value) &&
                  (py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value)),
              what, " must be a number, got ", type_name(value));
  return value.cast<double>();
}

int64_t integer(const py::handle& value, const std::string& what) {
  ALISA_CHECK(!py::isinstance<py::bool_>(value) && py::isinstance<py::int_>(value), what,
              " must be an int, got ", type_name(value));
  return value.cast<int64_t>();
}

std::string text(const py::handle& value, const std::string& what) {
  ALISA_CHECK(py::isinstance<py::str>(value), what, " must be a str, got ", type_name(value));
  return value.cast<std::string>();
}

DType activation_dtype(const std::string& name) {
  if (name == "f16") return DType::kF16;
  if (name == "bf16") return DType::kBF16;
  if (name == "f32") return DType::kF32;
  throw Error(str("dtype must be f16 or bf16 (GPU runs) or f32 (CPU runs), got '", name, "'"));
}

}  // namespace

SwaOptions swa_options(const py::handle& swa) {
  SwaOptions o;
  if (swa.is_none()) return o;
  ALISA_CHECK(py::isinstance<py::dict>(swa), "swa must be a dict of its options (",
              swa_config_keys(), "), got ", type_name(swa));
  for (const auto& [key_object, value] : swa.cast<py::dict>()) {
    const std::string key = py::str(key_object).cast<std::string>();
    const std::string what = "swa['" + key + "']";
    if (key == "sparsity") {
      o.sparsity = number(value, what);
    } else if (key == "window_max") {
      o.window_max = integer(value, what);
    } else if (key == "granularity") {
      o.granularity = parse_swa_granularity(text(value, what), "swa");
    } else if (key == "score") {
      o.score = parse_swa_score(text(value, what), "swa");
    } else if (key == "min_tokens") {
      o.min_tokens = integer(value, what);
    } else if (key == "gamma") {
      o.gamma = number(value, what);
    } else {
      throw Error(str("swa: unknown option '", key, "' (known: ", swa_config_keys(), ")"));
    }
  }
  validate(o, "swa");
  return o;
}

Policy policy_from_settings(const py::dict& settings, const std::string& source) {
  // Through the policy file's own reader, so a dict is checked exactly as a file is.
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& [key_object, value] : settings) {
    ALISA_CHECK(py::isinstance<py::str>(key_object), source, ": keys must be str, got ",
                type_name(key_object));
    const std::string key = key_object.cast<std::string>();
    if (py::isinstance<py::bool_>(value)) {
      root[key] = value.cast<bool>();
    } else if (py::isinstance<py::int_>(value)) {
      root[key] = value.cast<int64_t>();
    } else if (py::isinstance<py::float_>(value)) {
      root[key] = value.cast<double>();
    } else if (py::isinstance<py::str>(value)) {
      root[key] = value.cast<std::string>();
    } else {
      throw Error(str(source, ": '", key, "' must be a number, true/false or \"auto\", got ",
                      type_name(value)));
    }
  }
  YAML::Emitter out;
  out.SetDoublePrecision(17);
  out << root;
  return policy_from_yaml(out.c_str(), source);
}

py::dict policy_dict(const Policy& policy) {
  py::dict out;
  for (const auto& [key, value] : policy_settings(policy)) {
    std::visit([&out, &key](const auto& x) { out[py::str(key)] = py::cast(x); }, value);
  }
  return out;
}

GivenPolicy given_policy(const py::handle& policy) {
  if (py::isinstance<Policy>(policy)) return {policy.cast<Policy>(), "the given alisa.Policy"};
  if (py::isinstance<py::dict>(policy)) {
    return {policy_from_settings(policy.cast<py::dict>(), "policy dict"), "the given policy dict"};
  }
  const std::string path = path_string(policy, "policy");
  return {load_policy(path), path};
}

PlanRequest plan_request(const std::string& model, const py::handle& hardware, int64_t prompt_len,
                         int64_t gen_len, int64_t sequences, const py::handle& gpu_memory_limit,
                         const py::handle& cpu_memory_limit, int64_t threads, const py::handle& swa,
                         bool allow_compression, const std::string& dtype) {
  ALISA_CHECK(sequences >= 0, "sequences must be >= 0 (0: no limit on the block), got ", sequences);
  const py::object hardware_path = py::hasattr(hardware, "path")
                                       ? hardware.attr("path")
                                       : py::reinterpret_borrow<py::object>(hardware);
  return {.model = model,
          .workload = {.prompt_len = prompt_len, .gen_len = gen_len},
          .max_sequences = sequences,
          .swa = swa_options(swa),
          .hardware = path_string(hardware_path, "hardware"),
          .gpu_memory_limit = byte_size(gpu_memory_limit, "gpu_memory_limit"),
          .cpu_memory_limit = byte_size(cpu_memory_limit, "cpu_memory_limit"),
          .threads = threads,
          .allow_compression = allow_compression,
          .activation_dtype = activation_dtype(dtype)};
}

}  // namespace alisa::python
