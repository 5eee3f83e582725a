#include "runtime/calibrate/calibrate_timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "runtime/base/common.h"

namespace alisa {

double median(std::vector<double> values) {
  ALISA_ASSERT(!values.empty(), "median of nothing");
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

namespace calibration {

double seconds_of(const std::function<void()>& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median_of_runs(const std::function<double()>& timed) {
  (void)timed();
  std::vector<double> times;
  for (int i = 0; i < kComputeRuns; ++i) times.push_back(timed());
  return median(times);
}

double best_of_runs(const std::function<double()>& timed) {
  (void)timed();
  double best = INFINITY;
  for (int i = 0; i < kTransferRuns; ++i) best = std::min(best, timed());
  return best;
}

double gbps(double bytes, double seconds) {
  return bytes / seconds / 1e9;
}

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace calibration
}  // namespace alisa
