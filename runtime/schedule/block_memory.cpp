#include "runtime/schedule/block_memory.h"

#include <algorithm>
#include <cmath>

#include "runtime/schedule/weight_placement.h"

namespace alisa {
namespace {

// The plan is in float16 bytes; CPU runs keep float32.
void scale_plan(MemoryPlan& plan, size_t element_bytes) {
  for (TierBytes* tier : {&plan.gpu, &plan.cpu, &plan.disk}) {
    for (uint64_t* x : {&tier->weights, &tier->cache, &tier->activations, &tier->workspace}) {
      *x = *x / 2 * element_bytes;
    }
  }
}

}  // namespace

MemoryPlan block_memory_plan(const ModelSpec& spec, const SwaOptions& swa, const Policy& p,
                             int64_t capacity, int64_t max_step_tokens, DType activation_dtype) {
  return block_memory_plan(spec, weight_layout(spec), swa, p, capacity, max_step_tokens,
                           activation_dtype);
}

MemoryPlan block_memory_plan(const ModelSpec& spec, const std::vector<WeightSlot>& layout,
                             const SwaOptions& swa, const Policy& p, int64_t capacity,
                             int64_t max_step_tokens, DType activation_dtype) {
  const int64_t prompt_len = std::max<int64_t>(1, max_step_tokens);
  const size_t activation_bytes = dtype_size(activation_dtype);
  // The weights' terms are added after scaling: they are exact in the run's dtype.
  MemoryPlan plan =
      plan_memory(model_footprint(spec),
                  {.prompt_len = prompt_len, .gen_len = capacity - prompt_len}, p, WeightBytes{});
  scale_plan(plan, activation_bytes);
  const PlacedWeights weights = place_weights(layout, activation_dtype, weight_placement_of(p));
  plan.gpu.weights = weights.tier_bytes[static_cast<int>(Tier::kCompute)];
  plan.cpu.weights = weights.tier_bytes[static_cast<int>(Tier::kCpu)];
  plan.disk.weights = weights.tier_bytes[static_cast<int>(Tier::kDisk)];
  plan.gpu.workspace += 2 * weights.slot_bytes + weights.dense_slot_bytes;
  plan.cpu.workspace += 2 * weights.staging_bytes;
  if (swa.enabled()) {
    // The selection state, where each unit attends (cpu_attention units on the CPU tier).
    const int64_t n_units = spec.n_layers * p.num_gpu_batches;
    const int64_t n_cpu_units =
        p.cpu_attention ? static_cast<int64_t>(
                              std::ceil(static_cast<double>(n_units) * p.cache_cpu_percent / 100.0))
                        : 0;
    const int64_t kept = kept_hidden_positions(p, capacity, max_step_tokens);
    const SwaBytes bytes = swa_block_bytes(
        swa, swa_shape(swa, spec.n_heads, p.gpu_batch_size, capacity, max_step_tokens), n_units,
        n_cpu_units, p.num_gpu_batches, kept, spec.hidden_size, spec.kv_dim(), activation_bytes);
    plan.gpu.workspace += bytes.compute;
    plan.cpu.workspace += bytes.cpu;
  }
  return plan;
}

}  // namespace alisa
