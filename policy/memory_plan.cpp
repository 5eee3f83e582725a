#include "policy/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <utility>
#include <vector>

#include "policy/placement.h"
#include "runtime/base/common.h"

namespace alisa {
namespace {

// x * y, refusing (as the user's problem: an absurd workload) what does not fit 64 bits.
uint64_t mul(uint64_t x, uint64_t y) {
  uint64_t out = 0;
  ALISA_CHECK(!__builtin_mul_overflow(x, y, &out), "memory plan: ", x, " * ", y,
              " bytes overflows 64 bits");
  return out;
}

uint64_t u(int64_t x) {
  return static_cast<uint64_t>(x);
}

// round(x * percent / 100), clamped to [0, x]: exact byte fractions (percentages such as 33.3
// are not exact in binary, so rounding to nearest rather than down).
uint64_t part(uint64_t x, double percent) {
  if (percent >= 100) return x;
  if (percent <= 0) return 0;
  const long double exact = static_cast<long double>(x) * percent / 100.0L;
  return std::min(x, static_cast<uint64_t>(std::llround(exact)));
}

// Splits `total` into GPU, CPU and disk parts (gpu + cpu <= total, whatever the rounding).
void split(uint64_t total, double gpu_percent, double cpu_percent, uint64_t& gpu, uint64_t& cpu,
           uint64_t& disk) {
  gpu = part(total, gpu_percent);
  cpu = std::min(part(total, cpu_percent), total - gpu);
  disk = total - gpu - cpu;
}

uint64_t int4_bytes(uint64_t n_values) {
  const uint64_t n_groups = (n_values + kWeightGroupSize - 1) / kWeightGroupSize;
  return (n_values + 1) / 2 + 4 * n_groups;  // 4-bit values, f16 scale and min per group
}

// The binary unit for a number of bytes: its divisor and name.
struct Unit {
  double divisor;
  const char* name;
};

Unit unit_for(uint64_t n_bytes) {
  static const Unit units[] = {
      {1099511627776.0, "TiB"}, {1073741824.0, "GiB"}, {1048576.0, "MiB"}, {1024.0, "KiB"}};
  for (const Unit& unit : units) {
    if (static_cast<double>(n_bytes) >= unit.divisor) return unit;
  }
  return {1.0, "B"};
}

std::string in_unit(uint64_t n_bytes, const Unit& unit) {
  if (unit.divisor == 1.0) return str(n_bytes, " B");
  char text[64];
  std::snprintf(text, sizeof text, "%.1f %s", static_cast<double>(n_bytes) / unit.divisor,
                unit.name);
  return text;
}

}  // namespace

std::string bytes_text(uint64_t n_bytes) {
  return in_unit(n_bytes, unit_for(n_bytes));
}

uint64_t stored_layer_weight_bytes(const ModelFootprint& model, bool compress_weights) {
  if (!compress_weights) return model.layer_weight_bytes;
  return int4_bytes(u(model.layer_matrix_params)) + 2 * u(model.layer_vector_params);
}

uint64_t stored_kv_bytes_per_token_per_layer(const ModelFootprint& model, bool compress_cache,
                                             uint64_t activation_bytes) {
  if (!compress_cache) return 2 * u(model.kv_dim) * activation_bytes;
  return 2 * (u(model.kv_dim) + 4 * u(model.n_kv_heads));  // K and V: int8 + f16 scale, zero
}

uint64_t kv_part_bytes(uint64_t rows, uint64_t row_len, uint64_t capacity, bool int8,
                       uint64_t activation_bytes) {
  if (!int8)
    return round_up(mul(mul(capacity, rows), row_len) * activation_bytes, kKvPartAlignment);
  // uint8 values, then an f16 scale and an f16 zero per row, each part on the alignment.
  return round_up(mul(mul(capacity, rows), row_len), kKvPartAlignment) +
         2 * round_up(mul(capacity, rows) * 2, kKvPartAlignment);
}

WeightBytes mean_weight_bytes(const ModelFootprint& model, const Policy& policy) {
  const uint64_t L = u(model.n_layers);
  const uint64_t Wl = stored_layer_weight_bytes(model, policy.compress_weights);
  WeightBytes out;
  split(mul(L, Wl), policy.weights_gpu_percent, policy.weights_cpu_percent, out.gpu, out.cpu,
        out.disk);
  out.gpu += model.global_weight_bytes;
  uint64_t layer_gpu = 0, layer_cpu = 0, layer_disk = 0;
  split(Wl, policy.weights_gpu_percent, policy.weights_cpu_percent, layer_gpu, layer_cpu,
        layer_disk);
  out.gpu_buffers = 2 * (Wl - layer_gpu) + (policy.compress_weights ? model.layer_weight_bytes : 0);
  out.cpu_buffers = 2 * layer_disk;
  return out;
}

MemoryPlan plan_memory(const ModelFootprint& model, const Workload& workload,
                       const Policy& policy) {
  return plan_memory(model, workload, policy, mean_weight_bytes(model, policy));
}

MemoryPlan plan_memory(const ModelFootprint& model, const Workload& workload, const Policy& policy,
                       const WeightBytes& weights, uint64_t a) {
  const int64_t s = workload.prompt_len;
  const int64_t n = workload.gen_len;
  ALISA_CHECK(s >= 1, "workload: prompt_len must be at least 1, got ", s);
  ALISA_CHECK(n >= 0, "workload: gen_len must be at least 0, got ", n);
  ALISA_CHECK(s <= model.max_positions && n <= model.max_positions - s,
              "workload: prompt_len + gen_len (", s, " + ", n,
              ") is more than the model's max_positions ", model.max_positions);
  validate(policy, "policy");
  ALISA_ASSERT(a == 2 || a == 4, "activations of ", a, " bytes");
  const uint64_t d = u(model.hidden_size), V = u(model.vocab_size);
  const uint64_t q = u(model.q_dim), kv = u(model.kv_dim);
  const uint64_t b = u(policy.gpu_batch_size), B = u(policy.block_size());
  const uint64_t n_batches = u(policy.num_gpu_batches);
  const uint64_t tokens = u(s + n);

  MemoryPlan plan;
  plan.gpu.weights = weights.gpu;
  plan.cpu.weights = weights.cpu;
  plan.disk.weights = weights.disk;
  // KV cache: each (layer, GPU batch) unit's K and V, 2 P bytes, homed whole on the tier the
  // runtime puts it (policy/placement.h).
  const uint64_t P = kv_part_bytes(b * u(model.n_kv_heads), kv / u(model.n_kv_heads), tokens,
                                   policy.compress_cache, a);
  const uint64_t Kb = 2 * P;
  const std::vector<Tier> kv_homes = kv_unit_homes(policy, model.n_layers * policy.num_gpu_batches);
  const uint64_t n_gpu_units = u(count_on(kv_homes, Tier::kCompute));
  const uint64_t n_cpu_units = u(count_on(kv_homes, Tier::kCpu));
  plan.gpu.cache = mul(n_gpu_units, Kb);
  plan.disk.cache = mul(u(count_on(kv_homes, Tier::kDisk)), Kb);
  // Phase III: CPU homes keep their oldest h positions as input hidden states (d values a
  // token) in place of K and V.
  const uint64_t h = policy.cache_recompute_percent > 0 && n_cpu_units > 0
                         ? u(kept_hidden_positions(policy, s + n, s))
                         : 0;
  plan.cpu.cache = mul(n_cpu_units, Kb - 2 * b * h * kv * a + b * h * d * a);
  // Activations: each GPU batch's hidden states, hb bytes, homed whole.
  const uint64_t hb = mul(mul(b, u(s)), d) * a;
  const std::vector<Tier> act_homes = hidden_homes(policy);
  plan.gpu.activations = mul(u(count_on(act_homes, Tier::kCompute)), hb);
  plan.cpu.activations = mul(u(count_on(act_homes, Tier::kCpu)), hb);
  plan.disk.activations = mul(u(count_on(act_homes, Tier::kDisk)), hb);

  // GPU workspace.
  // Two slots of one unit's K and V wherever any unit's cache is off the GPU (the runner
  // allocates them then, attended on the CPU or not), and two of one GPU batch's hidden states
  // wherever any batch's activations are.
  const uint64_t kv_slots = n_gpu_units < kv_homes.size() ? 2 * Kb : 0;
  const uint64_t hidden_slots =
      u(count_on(act_homes, Tier::kCompute)) < act_homes.size() ? 2 * hb : 0;
  // The decoder's scratch for one GPU batch's prompt step: normed, q, k, v, attention, the MLP's
  // one or two intermediates, out, the embedding where its width differs; rotary frequencies.
  const uint64_t m_f = u((model.gated_mlp ? 2 : 1) * model.ffn_dim);
  const uint64_t scratch_row = 2 * d + 2 * q + 2 * kv + m_f +
                               (model.embed_dim != model.hidden_size ? u(model.embed_dim) : 0);
  const uint64_t prefill = mul(mul(mul(b, u(s)), scratch_row), a) + 4 * u(model.rotary_frequencies);
  // Each GPU batch's step inputs: token and position ids (i32), the key mask (u8).
  const uint64_t inputs = n_batches * (2 * b * u(s) * 4 + b * tokens);
  // The head: one GPU batch's last rows, the block's logits (f32) and one GPU batch's in the
  // activation dtype when that is not f32, the sampling keys (u64) and tokens (i32).
  const uint64_t head = b * d * a + mul(mul(B, V), 4) + (a != 4 ? mul(mul(b, V), a) : 0) + B * 12;
  // One GPU batch's K and V of one layer in the activation dtype: what attention reads of an
  // int8 cache.
  const uint64_t dense_kv = policy.compress_cache ? 2 * mul(mul(b, tokens), kv) * a : 0;
  // Refill lanes: up to one GPU batch's prompt step of tokens refilled in a decode step.
  const bool lanes = workload.refill && refill_unsupported(policy).empty();
  const uint64_t refill_lanes = lanes ? mul(b * u(s), 8 + d * a) : 0;
  plan.gpu.workspace = weights.gpu_buffers + kv_slots + hidden_slots + prefill + inputs + head +
                       dense_kv + refill_lanes;
  // Disk-homed caches or activations: one load staging and two store stagings (K, V and
  // hidden states of a unit each) in pinned memory.
  const bool disk_units = plan.disk.cache > 0 || plan.disk.activations > 0;
  const uint64_t disk_staging = disk_units ? std::max(P, hb) + 2 * (Kb + hb) : 0;
  // cpu_attention: two sets of one GPU batch's decode q, k, v and attention output.
  const bool cpu_attention = policy.cpu_attention && n_cpu_units > 0;
  const uint64_t host_qkv = 2 * b * (2 * q + 2 * kv) * a;
  plan.cpu.workspace =
      weights.cpu_buffers + disk_staging + (cpu_attention ? dense_kv + host_qkv : 0);
  return plan;
}

bool fits(const MemoryPlan& plan, const MemoryCaps& caps) {
  const std::pair<uint64_t, uint64_t> tiers[] = {{plan.gpu.total(), caps.gpu_bytes},
                                                 {plan.cpu.total(), caps.cpu_bytes},
                                                 {plan.disk.total(), caps.disk_bytes}};
  return std::all_of(std::begin(tiers), std::end(tiers),
                     [](const auto& t) { return t.second == 0 || t.first <= t.second; });
}

void check_fits(const MemoryPlan& plan, const MemoryCaps& caps, const std::string& what) {
  struct Tier {
    const TierBytes& bytes;
    uint64_t cap;
    const char* name;
    const char* limit_key;
  };
  const Tier tiers[] = {{plan.gpu, caps.gpu_bytes, "GPU memory", "gpu_memory_limit"},
                        {plan.cpu, caps.cpu_bytes, "CPU memory", "cpu_memory_limit"},
                        {plan.disk, caps.disk_bytes, "disk space", "disk_limit"}};
  std::vector<std::string> problems;
  for (const Tier& tier : tiers) {
    const uint64_t total = tier.bytes.total();
    if (tier.cap == 0 || total <= tier.cap) continue;
    const Unit unit = unit_for(std::max(total, tier.cap));
    problems.push_back(str(
        in_unit(total, unit), " of ", tier.name, " (weights ", in_unit(tier.bytes.weights, unit),
        ", KV cache ", in_unit(tier.bytes.cache, unit), ", activations ",
        in_unit(tier.bytes.activations, unit), ", workspace ", in_unit(tier.bytes.workspace, unit),
        ") but ", tier.limit_key, " is ", in_unit(tier.cap, unit)));
  }
  if (problems.empty()) return;
  std::string message = what + " needs " + problems[0];
  for (size_t i = 1; i < problems.size(); ++i) message += "; and " + problems[i];
  throw Error(message);
}

}  // namespace alisa
