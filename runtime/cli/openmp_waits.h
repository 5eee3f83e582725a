// OpenMP threads that wait passively (runtime/cli/openmp_waits.cpp).
#pragma once

namespace alisa::cli {

// When OMP_WAIT_POLICY is unset: sets it to PASSIVE and re-executes this program (same PID, same
// arguments), as libgomp reads it only while it loads, before main. Returns when it is set.
void ensure_passive_openmp_waits(char** argv);

}  // namespace alisa::cli
