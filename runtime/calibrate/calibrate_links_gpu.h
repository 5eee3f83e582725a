// The CPU<->GPU transfer measurements of `alisa calibrate` (CUDA builds only), on the current
// device, timed with CUDA events after a warm-up: copies from and to pinned and pageable memory,
// alone, both ways at once and beside CPU work, and a kernel reading and writing mapped pinned
// host memory in place.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>

#include "policy/hardware.h"

namespace alisa {

// cudaMemcpyAsync of n_bytes from (to) pinned or pageable host memory, each direction alone and
// then both at once on two streams issued from two host threads: duplex_gbps is each direction's
// own rate while the other runs (its best run of five, like the others).
struct CopyRates {
  LinkRate h2d, d2h;
};
CopyRates measure_copy_rates(size_t n_bytes, bool pinned);

// Pinned H2D copies of n_bytes while `load` keeps other threads busy (started lead_in_s seconds
// before the first copy, time for its setup; it returns once `stop` is set, after the last): the
// median of 5 timed runs after a warm-up, contention being what this measures.
double measure_h2d_pinned_under_load(size_t n_bytes,
                                     const std::function<void(const std::atomic<bool>& stop)>& load,
                                     double lead_in_s);

// Runs `work` on another thread (lead_in_s seconds after the first copy) while this one queues
// pinned H2D copies of n_bytes back to back until it returns: the mirror of the above, what the
// weights streaming up cost the CPU. Returns the copies' mean GB/s; rethrows what `work` threw.
double pinned_h2d_during(size_t n_bytes, const std::function<void()>& work, double lead_in_s);

// A kernel reading (summing) and writing n_bytes of mapped pinned host memory in 16-byte vectors.
struct MappedRates {
  double read_gbps = 0;
  double write_gbps = 0;
};
MappedRates measure_mapped_rates(size_t n_bytes);

}  // namespace alisa
