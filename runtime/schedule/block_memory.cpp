#include "runtime/schedule/block_memory.h"

#include "runtime/model/tensor_shapes.h"

namespace alisa {

MemoryPlan block_memory_plan(const ModelSpec& spec, const SwaOptions& swa, const Policy& p,
                             int64_t capacity, int64_t max_step_tokens, DType activation_dtype,
                             bool refill) {
  return block_memory_plan(model_footprint(spec), tensor_shapes(weight_layout(spec)), swa, p,
                           capacity, max_step_tokens, dtype_size(activation_dtype), refill);
}

}  // namespace alisa
