// alisa._alisa: the C++ side of the Python package `alisa` (runtime/python/alisa/__init__.py).
// alisa::Error becomes alisa.Error with alisa's one-line message; InternalError (a bug, not the
// caller's input) becomes RuntimeError.
#include <pybind11/pybind11.h>

#include "kernels_cpu/openmp/passive_waits.h"
#include "runtime/base/common.h"
#include "runtime/python/bindings.h"

PYBIND11_MODULE(_alisa, m) {
  // Passive OpenMP waits where the environment chose none; the Python program's children see its
  // own environment again.
  alisa_openmp_waits_restore_environment();
  m.doc() =
      "alisa's C++ runtime: model specs, hardware profiles, policies, the cost model and "
      "solver, and the engine";
  pybind11::register_exception<alisa::Error>(m, "Error", PyExc_Exception);
  alisa::python::bind_model(m);
  alisa::python::bind_policy(m);
  alisa::python::bind_engine(m);
}
