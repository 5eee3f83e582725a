// The parts of the module alisa._alisa, one per concept; module.cpp puts them together.
#pragma once

#include <pybind11/pybind11.h>

namespace alisa::python {

void bind_model(pybind11::module_& m);   // ModelSpec, load_model, Hardware, load_hardware
void bind_policy(pybind11::module_& m);  // Policy, predict, plan
void bind_engine(pybind11::module_& m);  // Engine

}  // namespace alisa::python
