#include "policy/placement.h"

#include <algorithm>

namespace alisa {

std::vector<Tier> place_by_percent(std::span<const uint64_t> sizes, double compute_percent,
                                   double cpu_percent) {
  const double share[kNumTiers] = {compute_percent / 100.0, cpu_percent / 100.0,
                                   (100.0 - compute_percent - cpu_percent) / 100.0};
  long double placed[kNumTiers] = {0, 0, 0};
  long double total = 0;
  std::vector<Tier> tiers;
  tiers.reserve(sizes.size());
  for (uint64_t size : sizes) {
    total += static_cast<long double>(size);
    int best = -1;
    long double best_deficit = 0;
    for (int t = 0; t < kNumTiers; ++t) {
      if (share[t] <= 0) continue;  // a tier asked for 0% gets nothing
      const long double deficit = total * share[t] - placed[t];
      if (best < 0 || deficit > best_deficit) best = t, best_deficit = deficit;
    }
    placed[best] += static_cast<long double>(size);
    tiers.push_back(static_cast<Tier>(best));
  }
  return tiers;
}

std::vector<Tier> kv_unit_homes(const Policy& policy, int64_t n_units) {
  const std::vector<uint64_t> sizes(static_cast<size_t>(n_units), 1);
  return place_by_percent(sizes, policy.cache_gpu_percent, policy.cache_cpu_percent);
}

std::vector<Tier> hidden_homes(const Policy& policy) {
  const std::vector<uint64_t> sizes(static_cast<size_t>(policy.num_gpu_batches), 1);
  return place_by_percent(sizes, policy.activations_gpu_percent, policy.activations_cpu_percent);
}

int64_t count_on(std::span<const Tier> homes, Tier tier) {
  return std::count(homes.begin(), homes.end(), tier);
}

}  // namespace alisa
