#include "kernels_cpu/openmp/passive_waits.h"

#include <cstdlib>

namespace {

int set_passive = 0;

// Runs while this library loads, before libgomp's constructor reads the environment (see the
// header): nothing here may use libgomp, TBB or oneDNN.
__attribute__((constructor)) void choose_passive_waits() {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  set_passive = setenv("OMP_WAIT_POLICY", "PASSIVE", 0) == 0 ? 1 : 0;
}

}  // namespace

extern "C" int alisa_openmp_waits_passive_by_default() {
  return set_passive;
}

extern "C" void alisa_openmp_waits_restore_environment() {
  if (set_passive == 1) unsetenv("OMP_WAIT_POLICY");
}
