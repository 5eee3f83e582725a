// IdSet: a set of 64-bit id hashes (job_requests.h's id_hash) in about 8 bytes each, what a batch
// job holds per line for resume and duplicate checks: a sorted vector, and a small hash set of
// the latest ids merged into it whenever it grows past a fraction of the vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_set>
#include <vector>

namespace alisa {

class IdSet {
 public:
  // False when `id` was there already.
  bool insert(uint64_t id);
  bool contains(uint64_t id) const;
  size_t size() const { return sorted_.size() + recent_.size(); }

 private:
  std::vector<uint64_t> sorted_;
  std::unordered_set<uint64_t> recent_;
};

}  // namespace alisa
