// Allocations a runner (or a measurement) holds until it goes: each Buffer is kept in `owner`,
// and what the caller uses is the tensor or the pointer.
#pragma once

#include <initializer_list>
#include <string_view>
#include <vector>

#include "runtime/core/tensor.h"

namespace alisa {

inline Tensor owned_tensor(std::vector<Buffer>& owner, Device& device, DType dtype,
                           std::initializer_list<int64_t> shape, std::string_view purpose) {
  OwnedTensor owned = allocate_tensor(device, dtype, shape, purpose);
  owner.push_back(std::move(owned.buffer));
  return owned.tensor;
}

inline void* owned_bytes(std::vector<Buffer>& owner, Device& device, size_t n_bytes,
                         std::string_view purpose) {
  owner.push_back(device.allocate(n_bytes, purpose));
  return owner.back().data();
}

}  // namespace alisa
