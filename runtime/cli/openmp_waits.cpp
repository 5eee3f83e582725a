// OpenMP threads that wait passively, set before any library starts.
//
// oneDNN runs its matmuls on libgomp's OpenMP team, and libgomp's idle threads spin (about 300,000
// iterations) after each parallel region before they sleep. The engine alternates oneDNN calls
// with TBB kernels, so on a machine that other processes also use the spinning team took the cores
// from the threads with work: the same CPU job took 12 to 41 s instead of 4 s, with ten times the
// CPU time (docs/RELIABILITY.md). OMP_WAIT_POLICY=PASSIVE makes idle threads sleep at once.
// libgomp reads the variable only while it loads, before main, so it is set from the executable's
// .preinit_array, which the dynamic loader runs before any shared library's initializer. A value
// the user set is kept.
#include <cstdlib>

namespace {

void passive_openmp_waits(int, char**, char**) {
  setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
}

}  // namespace

__attribute__((section(".preinit_array"), used)) static void (*const kPassiveOpenMpWaits)(
    int, char**, char**) = &passive_openmp_waits;
