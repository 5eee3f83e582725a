// Timing and statistics every measurement of `alisa calibrate` shares. A measurement runs once
// untimed (the warm-up), then reports the median of kComputeRuns timed runs (computations) or the
// fastest of kTransferRuns (transfers: other traffic on the link or the host only ever slows a
// transfer down).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace alisa {

// The median of a non-empty list (the middle pair's mean for an even count).
double median(std::vector<double> values);

namespace calibration {

inline constexpr int kComputeRuns = 3;
inline constexpr int kTransferRuns = 5;

// The wall-clock seconds `run` takes.
double seconds_of(const std::function<void()>& run);

// `timed` (returning seconds) once as a warm-up, then the median of kComputeRuns of its results.
double median_of_runs(const std::function<double()>& timed);
// `timed` once as a warm-up, then the least of kTransferRuns of its results.
double best_of_runs(const std::function<double()>& timed);

// GB (1e9 bytes) per second.
double gbps(double bytes, double seconds);

// A cheap, well-mixed hash (splitmix64): fill patterns that no hardware compresses away.
uint64_t mix(uint64_t x);

}  // namespace calibration
}  // namespace alisa
