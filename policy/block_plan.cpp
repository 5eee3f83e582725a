#include "policy/block_plan.h"

#include <algorithm>

#include "policy/placement.h"
#include "runtime/base/kernel_params.h"

namespace alisa {

WeightBytes placed_weight_bytes(const std::vector<TensorShape>& tensors, const Policy& policy,
                                size_t value_bytes) {
  const PlacedWeights placed = place_weights(tensors, value_bytes, weight_placement_of(policy));
  return {.gpu = placed.tier_bytes[static_cast<int>(Tier::kCompute)],
          .cpu = placed.tier_bytes[static_cast<int>(Tier::kCpu)],
          .disk = placed.tier_bytes[static_cast<int>(Tier::kDisk)],
          .gpu_buffers = 2 * placed.slot_bytes + placed.dense_slot_bytes,
          .cpu_buffers = 2 * placed.staging_bytes};
}

MemoryPlan block_memory_plan(const ModelFootprint& model, const std::vector<TensorShape>& tensors,
                             const SwaOptions& swa, const Policy& p, int64_t capacity,
                             int64_t max_step_tokens, size_t activation_bytes, bool refill) {
  const int64_t prompt_len = std::max<int64_t>(1, max_step_tokens);
  const WeightBytes weights = tensors.empty() ? mean_weight_bytes(model, p)
                                              : placed_weight_bytes(tensors, p, activation_bytes);
  MemoryPlan plan = plan_memory(
      model, {.prompt_len = prompt_len, .gen_len = capacity - prompt_len, .refill = refill}, p,
      weights, activation_bytes);
  if (swa.enabled()) {
    // The selection state, where each unit attends (cpu_attention units on the CPU tier).
    const int64_t n_units = model.n_layers * p.num_gpu_batches;
    const int64_t n_cpu_homes = count_on(kv_unit_homes(p, n_units), Tier::kCpu);
    const int64_t n_cpu_units = p.cpu_attention ? n_cpu_homes : 0;
    // Phase III's scratch exists where CPU homes keep hidden states.
    const int64_t kept = n_cpu_homes > 0 ? kept_hidden_positions(p, capacity, max_step_tokens) : 0;
    // The footprint keeps the widths: n_heads = q_dim / head_dim, head_dim = kv_dim / n_kv_heads.
    const int64_t n_heads = model.q_dim * model.n_kv_heads / model.kv_dim;
    const SwaBytes bytes = swa_block_bytes(
        swa, swa_shape(swa, n_heads, p.gpu_batch_size, capacity, max_step_tokens), n_units,
        n_cpu_units, p.num_gpu_batches, kept, model.hidden_size, model.kv_dim, activation_bytes);
    plan.gpu.workspace += bytes.compute;
    plan.cpu.workspace += bytes.cpu;
    // Refill lanes restart a row's selection: one plan per row of the block.
    if (refill && refill_unsupported(p).empty()) {
      plan.gpu.workspace += static_cast<uint64_t>(p.block_size() * kSwaSequenceFields) * 4;
    }
  }
  return plan;
}

}  // namespace alisa
