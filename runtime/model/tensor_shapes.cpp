#include "runtime/model/tensor_shapes.h"

namespace alisa {

std::vector<TensorShape> tensor_shapes(const std::vector<WeightSlot>& layout) {
  std::vector<TensorShape> shapes;
  shapes.reserve(layout.size());
  for (const WeightSlot& slot : layout)
    shapes.push_back({.shape = slot.shape, .layer = slot.layer});
  return shapes;
}

}  // namespace alisa
