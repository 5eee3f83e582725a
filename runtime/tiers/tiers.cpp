#include "runtime/tiers/tiers.h"

namespace alisa {

std::vector<Tier> place_by_percent(std::span<const uint64_t> sizes, double compute_percent,
                                   double cpu_percent) {
  const double share[3] = {compute_percent / 100.0, cpu_percent / 100.0,
                           (100.0 - compute_percent - cpu_percent) / 100.0};
  long double placed[3] = {0, 0, 0};
  long double total = 0;
  std::vector<Tier> tiers;
  tiers.reserve(sizes.size());
  for (uint64_t size : sizes) {
    total += static_cast<long double>(size);
    int best = -1;
    long double best_deficit = 0;
    for (int t = 0; t < 3; ++t) {
      if (share[t] <= 0) continue;  // a tier asked for 0% gets nothing
      const long double deficit = total * share[t] - placed[t];
      if (best < 0 || deficit > best_deficit) best = t, best_deficit = deficit;
    }
    placed[best] += static_cast<long double>(size);
    tiers.push_back(static_cast<Tier>(best));
  }
  return tiers;
}

}  // namespace alisa
