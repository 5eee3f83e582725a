// ModelSpec (a checkpoint folder's config.json or dummy:NAME) and the calibrated hardware
// profile, read-only.
#include <pybind11/stl.h>

#include "policy/hardware.h"
#include "runtime/jobs/engine.h"
#include "runtime/python/bindings.h"
#include "runtime/python/convert.h"

namespace alisa::python {
namespace {

const char* family_name(ModelFamily family) {
  switch (family) {
    case ModelFamily::kOpt:
      return "opt";
    case ModelFamily::kLlama:
      return "llama";
    case ModelFamily::kMistral:
      return "mistral";
    case ModelFamily::kQwen2:
      return "qwen2";
    case ModelFamily::kQwen3:
      return "qwen3";
  }
  return "unknown";
}

// A profile with the path it was read from: plan() and predict() read the file themselves.
struct LoadedHardware {
  std::string path;
  HardwareProfile profile;
};

}  // namespace

void bind_model(py::module_& m) {
  py::class_<ModelSpec>(m, "ModelSpec", "A model's architecture (read-only)")
      .def_readonly("name", &ModelSpec::name)
      .def_property_readonly("family", [](const ModelSpec& s) { return family_name(s.family); })
      .def_readonly("vocab_size", &ModelSpec::vocab_size)
      .def_readonly("hidden_size", &ModelSpec::hidden_size)
      .def_readonly("n_layers", &ModelSpec::n_layers)
      .def_readonly("n_heads", &ModelSpec::n_heads)
      .def_readonly("n_kv_heads", &ModelSpec::n_kv_heads)
      .def_readonly("head_dim", &ModelSpec::head_dim)
      .def_readonly("ffn_dim", &ModelSpec::ffn_dim)
      .def_readonly("max_positions", &ModelSpec::max_positions)
      .def_readonly("sliding_window", &ModelSpec::sliding_window)
      .def_readonly("eos_token_ids", &ModelSpec::eos_token_ids)
      .def_property_readonly(
          "torch_dtype", [](const ModelSpec& s) { return std::string(dtype_name(s.torch_dtype)); })
      .def_property_readonly("n_parameters", &ModelSpec::n_parameters)
      .def("__repr__", [](const ModelSpec& s) {
        return str("<alisa.ModelSpec ", s.name, ": ", s.n_layers, " layers, hidden ", s.hidden_size,
                   ", ", s.n_parameters(), " parameters>");
      });
  m.def(
      "load_model",
      [](const py::object& model) {
        const std::string name = path_string(model, "model");
        py::gil_scoped_release release;
        return open_model_spec(name);
      },
      py::arg("model"), "The architecture of a checkpoint folder or of dummy:NAME");
  m.def("model_names", &named_model_names, "The names dummy:NAME takes (configs/models)");

  py::class_<LoadedHardware>(m, "Hardware", "A calibrated machine (configs/hardware/NAME.yaml)")
      .def_readonly("path", &LoadedHardware::path)
      .def_property_readonly("name", [](const LoadedHardware& h) { return h.profile.name; })
      .def_property_readonly("measured", [](const LoadedHardware& h) { return h.profile.measured; })
      .def_property_readonly("gpu", [](const LoadedHardware& h) { return h.profile.gpu; })
      .def_property_readonly("cpu", [](const LoadedHardware& h) { return h.profile.cpu; })
      .def_property_readonly("gpu_memory_bytes",
                             [](const LoadedHardware& h) { return h.profile.gpu_memory_bytes; })
      .def_property_readonly("cpu_memory_bytes",
                             [](const LoadedHardware& h) { return h.profile.cpu_memory_bytes; })
      .def_property_readonly("disk_bytes",
                             [](const LoadedHardware& h) { return h.profile.disk_bytes; })
      .def_property_readonly("cpu_cores",
                             [](const LoadedHardware& h) { return h.profile.cpu_cores; })
      .def("to_yaml", [](const LoadedHardware& h) { return hardware_to_yaml(h.profile); })
      .def("__repr__", [](const LoadedHardware& h) {
        return str("<alisa.Hardware ", h.profile.name, " (", h.path, ")>");
      });
  m.def(
      "load_hardware",
      [](const py::object& path) {
        const std::string file = path_string(path, "hardware");
        return LoadedHardware{file, load_hardware(file)};
      },
      py::arg("path"), "Reads a hardware profile that alisa calibrate wrote");
}

}  // namespace alisa::python
