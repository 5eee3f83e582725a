// The model's weights as policy/ plans them: each stored tensor's shape and layer.
#pragma once

#include <vector>

#include "policy/weight_placement.h"
#include "runtime/model/weights.h"

namespace alisa {

// One TensorShape per slot of `layout` (weight_layout's), in the same order.
std::vector<TensorShape> tensor_shapes(const std::vector<WeightSlot>& layout);

}  // namespace alisa
