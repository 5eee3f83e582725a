// What one layer's weights read from disk: the runtime places whole tensors, so a layer's share
// of the disk varies from layer to layer (runtime/schedule/weight_placement.h).
#pragma once

#include <cstdint>

namespace alisa {

struct LayerDiskRead {
  double bytes = 0;
  int64_t requests = 0;  // tensors, a read each
};

}  // namespace alisa
