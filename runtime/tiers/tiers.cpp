#include "runtime/tiers/tiers.h"

#include <array>

namespace alisa {

Tensor mapped(const Tensor& host, const Tiers& tiers) {
  ALISA_ASSERT(host.device() == tiers.cpu && host.is_contiguous(), "mapped view");
  std::array<int64_t, kMaxRank> dims{};
  for (int d = 0; d < host.rank(); ++d) dims[static_cast<size_t>(d)] = host.size(d);
  return Tensor(host.data(), tiers.compute, host.dtype(), dims.data(), host.rank());
}

}  // namespace alisa
