// The memory a policy needs on each tier, for a model and a workload, before anything is
// allocated; check_fits refuses a plan that does not fit the caps, with every number.
#pragma once

#include <cstdint>
#include <string>

#include "policy/footprint.h"
#include "policy/policy.h"

namespace alisa {

struct Workload {
  int64_t prompt_len = 0;  // s
  int64_t gen_len = 0;     // n
  // Continuous batching: finished rows take new prompts inside decode steps (refill lanes), where
  // the policy serves it (refill_unsupported).
  bool refill = false;
};

// 0 = unlimited.
struct MemoryCaps {
  uint64_t gpu_bytes = 0;
  uint64_t cpu_bytes = 0;
  uint64_t disk_bytes = 0;
};

struct TierBytes {
  uint64_t weights = 0;
  uint64_t cache = 0;
  uint64_t activations = 0;
  uint64_t workspace = 0;
  uint64_t total() const { return weights + cache + activations + workspace; }
};

struct MemoryPlan {
  TierBytes gpu, cpu, disk;
};

// Stored bytes of one decoder layer's weights: f16, or with compress_weights int4 matrices (4
// bits + an f16 scale and an f16 minimum per group of 64, i.e. 4.5 bits a value) and f16
// vectors. The global weights stay f16 (the embedding lookup and the head use them every step).
uint64_t stored_layer_weight_bytes(const ModelFootprint& model, bool compress_weights);
// Stored KV bytes of one token in one layer: K and V in the activation dtype, or with
// compress_cache int8 values plus an f16 scale and an f16 zero per token and KV head.
uint64_t stored_kv_bytes_per_token_per_layer(const ModelFootprint& model, bool compress_cache,
                                             uint64_t activation_bytes = 2);
// The stored bytes of one unit's K (or V) cache of `capacity` tokens of `rows` rows (GPU batch *
// KV heads) of row_len values each, as runtime/program/kv_layout.h lays it out: one dense part,
// or int8 values, f16 scales and f16 zeros, each part starting on kKvPartAlignment.
inline constexpr uint64_t kKvPartAlignment = 256;
uint64_t kv_part_bytes(uint64_t rows, uint64_t row_len, uint64_t capacity, bool int8,
                       uint64_t activation_bytes);

// The plan is exact: each term is a buffer the runtime allocates (the block runner, its KvCache
// and WeightStream, the decoder's scratch), in the run's activation dtype of a bytes (2: GPU
// runs, the default; 4: CPU runs). Symbols: L layers, d hidden, q and kv the query and KV widths,
// f ffn (m = 2 for a gated MLP, else 1), V vocab, b gpu_batch_size, B = b * num_gpu_batches, s
// prompt_len, n gen_len, t = s + n; Wl, Wg the stored bytes of one layer's and of the global
// weights; wg, wc, cg, cc, ag, ac the policy's GPU and CPU percentages (the rest on disk).
//   weights      L * Wl split by wg / wc (each layer's mean share), the globals on the GPU; the
//                block's plan counts each tensor where the WeightStore puts it (WeightBytes,
//                policy/block_plan.h)
//   KV cache     P = kv_part_bytes(b * KV heads, head_dim, t): one unit's K (or V); the L *
//                num_gpu_batches (layer, GPU batch) units are homed whole by kv_unit_homes
//                (policy/placement.h: cg / cc over the units), 2 P each; with
//                cache_recompute_percent r a CPU home keeps h = min(round(r t / 100), s)
//                positions as hidden states: 2 P - 2 b h kv a + b h d a
//   activations  hb = b * s * d * a, one GPU batch's hidden states, homed whole by hidden_homes
//   GPU workspace:
//     weight buffers    two slots of the largest layer's non-resident part (with
//                       compress_weights the dequantised slot)
//     KV slots          2 * 2P when a unit's cache is off the GPU
//     hidden slots      2 * hb when a GPU batch's hidden states are
//     prefill scratch   b * s * (2 d + 2 q + 2 kv + m f [+ E]) * a, + 4 per rotary frequency
//     inputs            num_gpu_batches * (b * s * 8 + b * t): ids, positions (i32), key mask
//     head              b d a + B V 4 [+ b V a when a != 4] + 12 B: the last rows, the
//                       block's logits (f32, and a GPU batch's staging), sampling keys, tokens
//     dequantised KV    2 * b * t * kv * a, only with compress_cache
//     refill lanes      b * s * (8 + d a): the prompts refilled in one step, their ids and
//                       positions (i32) and hidden states, only with workload.refill
//   CPU workspace: the weights' disk stagings; where any cache or activations are on disk,
//   max(P, hb) + 2 * (2P + hb) of load and store stagings; with cpu_attention (and a unit on the
//   CPU) two sets of one GPU batch's decode q, k, v and output, 2 * b * (2 q + 2 kv) * a, and
//   with compress_cache the dequantised KV above. Sparse Window Attention's state is added by
//   block_memory_plan (policy/block_plan.h).
// Throws alisa::Error for a workload with s < 1, n < 0, or s + n beyond the model's positions.
MemoryPlan plan_memory(const ModelFootprint& model, const Workload& workload, const Policy& policy);

// A policy's weights as a plan counts them: the bytes homed on each tier (the global weights on
// the GPU), the GPU buffers the schedule streams them through (two slots of a layer's non-resident
// part; with compress_weights the dequantised slot) and the CPU ones (two pinned stagings of a
// layer's disk part).
struct WeightBytes {
  uint64_t gpu = 0, cpu = 0, disk = 0;
  uint64_t gpu_buffers = 0, cpu_buffers = 0;
};
// The terms above, from the footprint alone: every layer holds its mean share on each tier.
WeightBytes mean_weight_bytes(const ModelFootprint& model, const Policy& policy);
// The plan with the weights' terms given: placed tensor by tensor (policy/block_plan.h), a
// layer's share varies, so its slots are sized for the largest layer's.
// `activation_bytes`: the run's activation dtype (2 on GPU runs, 4 on CPU runs).
MemoryPlan plan_memory(const ModelFootprint& model, const Workload& workload, const Policy& policy,
                       const WeightBytes& weights, uint64_t activation_bytes = 2);

// Throws alisa::Error when a capped tier's total exceeds its cap, naming `what` (e.g. "policy
// opt-30b.yaml"), the tier, every term and the cap, e.g. "policy needs 18.3 GiB of GPU memory
// (weights 12.1 GiB, KV cache 5.2 GiB, activations 1.0 GiB, workspace 0.0 GiB) but
// gpu_memory_limit is 14.5 GiB". Every tier that does not fit is named.
void check_fits(const MemoryPlan& plan, const MemoryCaps& caps, const std::string& what);
// Whether every capped tier's total is within its cap.
bool fits(const MemoryPlan& plan, const MemoryCaps& caps);

// "18.3 GiB", "512 B", "1.5 MiB": binary units, one decimal.
std::string bytes_text(uint64_t n_bytes);

}  // namespace alisa
