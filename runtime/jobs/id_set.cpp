#include "runtime/jobs/id_set.h"

#include <algorithm>

namespace alisa {

bool IdSet::contains(uint64_t id) const {
  return recent_.count(id) != 0 || std::binary_search(sorted_.begin(), sorted_.end(), id);
}

bool IdSet::insert(uint64_t id) {
  if (contains(id)) return false;
  recent_.insert(id);
  // Merging when the recent part passes a quarter of the sorted one keeps inserts O(log n)
  // amortised and the hash set's overhead to a fraction of the ids.
  if (recent_.size() > std::max<size_t>(4096, sorted_.size() / 4)) {
    const size_t old_size = sorted_.size();
    sorted_.insert(sorted_.end(), recent_.begin(), recent_.end());
    std::sort(sorted_.begin() + static_cast<ptrdiff_t>(old_size), sorted_.end());
    std::inplace_merge(sorted_.begin(), sorted_.begin() + static_cast<ptrdiff_t>(old_size),
                       sorted_.end());
    recent_.clear();
  }
  return true;
}

}  // namespace alisa
