#include "runtime/schedule/block_memory.h"

#include <algorithm>

#include "runtime/schedule/weight_placement.h"

namespace alisa {

MemoryPlan block_memory_plan(const ModelSpec& spec, const SwaOptions& swa, const Policy& p,
                             int64_t capacity, int64_t max_step_tokens, DType activation_dtype) {
  return block_memory_plan(spec, weight_layout(spec), swa, p, capacity, max_step_tokens,
                           activation_dtype);
}

MemoryPlan block_weight_plan(const std::vector<WeightSlot>& layout, const Policy& p,
                             DType activation_dtype) {
  const PlacedWeights weights = place_weights(layout, activation_dtype, weight_placement_of(p));
  MemoryPlan plan;
  plan.gpu.weights = weights.tier_bytes[static_cast<int>(Tier::kCompute)];
  plan.cpu.weights = weights.tier_bytes[static_cast<int>(Tier::kCpu)];
  plan.disk.weights = weights.tier_bytes[static_cast<int>(Tier::kDisk)];
  plan.gpu.workspace = 2 * weights.slot_bytes + weights.dense_slot_bytes;
  plan.cpu.workspace = 2 * weights.staging_bytes;
  return plan;
}

MemoryPlan block_memory_plan(const ModelSpec& spec, const std::vector<WeightSlot>& layout,
                             const SwaOptions& swa, const Policy& p, int64_t capacity,
                             int64_t max_step_tokens, DType activation_dtype) {
  const int64_t prompt_len = std::max<int64_t>(1, max_step_tokens);
  const size_t activation_bytes = dtype_size(activation_dtype);
  // The policy's plan in the run's dtype with the weights placed tensor by tensor.
  MemoryPlan plan = plan_memory(model_footprint(spec),
                                {.prompt_len = prompt_len, .gen_len = capacity - prompt_len}, p,
                                WeightBytes{}, activation_bytes);
  const MemoryPlan weights = block_weight_plan(layout, p, activation_dtype);
  plan.gpu.weights = weights.gpu.weights;
  plan.cpu.weights = weights.cpu.weights;
  plan.disk.weights = weights.disk.weights;
  plan.gpu.workspace += weights.gpu.workspace;
  plan.cpu.workspace += weights.cpu.workspace;
  if (swa.enabled()) {
    // The selection state, where each unit attends (cpu_attention units on the CPU tier).
    const int64_t n_units = spec.n_layers * p.num_gpu_batches;
    const int64_t n_cpu_homes = count_on(kv_unit_homes(p, n_units), Tier::kCpu);
    const int64_t n_cpu_units = p.cpu_attention ? n_cpu_homes : 0;
    // Phase III's scratch exists where CPU homes keep hidden states.
    const int64_t kept = n_cpu_homes > 0 ? kept_hidden_positions(p, capacity, max_step_tokens) : 0;
    const SwaBytes bytes = swa_block_bytes(
        swa, swa_shape(swa, spec.n_heads, p.gpu_batch_size, capacity, max_step_tokens), n_units,
        n_cpu_units, p.num_gpu_batches, kept, spec.hidden_size, spec.kv_dim(), activation_bytes);
    plan.gpu.workspace += bytes.compute;
    plan.cpu.workspace += bytes.cpu;
  }
  return plan;
}

}  // namespace alisa
