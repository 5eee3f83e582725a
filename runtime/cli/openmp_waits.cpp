// oneDNN runs its matmuls on libgomp's OpenMP team, and libgomp's idle threads spin (about 300,000
// iterations) after each parallel region before they sleep. The engine alternates oneDNN calls
// with TBB kernels, so on a machine that other processes also use the spinning team took the cores
// from the threads with work: the same small CPU job took 5 to 41 s instead of 1.5 to 4 s, with
// ten times the CPU time (docs/RELIABILITY.md). OMP_WAIT_POLICY=PASSIVE makes idle threads sleep at
// once. libgomp reads it only while it loads, before main (and a .preinit_array setenv is undone
// by libc's own start-up), so the process re-executes itself once with it set. A value the user
// set is kept.
#include "runtime/cli/openmp_waits.h"

#include <unistd.h>

#include <cstdlib>

namespace alisa::cli {

void ensure_passive_openmp_waits(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0) != 0) return;
  ::execv("/proc/self/exe", argv);
  // execv returned: no /proc. Run on with libgomp's default waits rather than fail.
}

}  // namespace alisa::cli
