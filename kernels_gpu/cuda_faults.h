// A test seam of the GPU runtime: an out-of-memory failure injected into one of the CUDA calls
// ALISA_CUDA_CHECK checks, so that tests can prove a run meeting one mid-way ends in alisa's
// one-line error and leaves no GPU memory behind. Like a real one (not sticky), it fails one call
// and the later ones succeed. Nothing arms it outside tests; unarmed, a check costs one atomic
// load. Plain C++: tests include it without CUDA's headers.
#pragma once

#include <cstdint>

namespace alisa {

class ScopedCudaOutOfMemory {
 public:
  // The check after `skip` passing ones (counted over every thread) fails; INT64_MAX: none, the
  // scope only counts.
  explicit ScopedCudaOutOfMemory(int64_t skip);
  ~ScopedCudaOutOfMemory();
  ScopedCudaOutOfMemory(const ScopedCudaOutOfMemory&) = delete;
  ScopedCudaOutOfMemory& operator=(const ScopedCudaOutOfMemory&) = delete;
  int64_t checks() const;  // checked CUDA calls so far in this scope
  bool hit() const;        // whether the fault has failed a call
};

namespace detail {
// For ALISA_CUDA_CHECK: whether this (successful) call is to fail as out of memory.
bool injected_cuda_out_of_memory();
}  // namespace detail

}  // namespace alisa
