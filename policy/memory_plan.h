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
// Stored KV bytes of one token in one layer: f16 K and V, or with compress_cache int8 values
// plus an f16 scale and an f16 zero per token and KV head.
uint64_t stored_kv_bytes_per_token_per_layer(const ModelFootprint& model, bool compress_cache);

// Symbols: L layers, d hidden, f ffn (m = 2 for a gated MLP, else 1), V vocab, b gpu_batch_size,
// B = block_size = b * num_gpu_batches, s prompt_len, n gen_len; Wl, Wg the stored bytes of one
// layer's and of the global weights (f16), Wf the f16 bytes of one layer, Kt the stored KV bytes of
// one token in one layer; wg, wc, cg, cc, ag, ac the policy's GPU and CPU percentages (wd, cd, ad =
// the rest on disk); part(x, p) = x * p / 100 rounded to the nearest byte.
//   weights      L * Wl split: gpu = part(L * Wl, wg) + Wg, cpu = part(L * Wl, wc), disk = the
//                rest (the global weights stay on the GPU, as the WeightStore places them);
//                the runtime's plan counts each tensor where it lies (WeightBytes below)
//   KV cache     C = L * B * (s + n) * Kt;  split by cg / cc the same way; with
//                cache_recompute_percent r, the CPU part keeps h = min(round(r (s + n) / 100), s)
//                of every s + n positions as hidden states: cpu * ((s + n - h) + h * 2d / Kt) /
//                (s + n)
//   activations  A = B * s * d * 2 (the block's hidden states, f16);  split by ag / ac
//   GPU workspace:
//     streamed weights  2 * (Wl - part(Wl, wg))   double buffer of a layer's non-resident part
//                                                 (the runtime's plan: the largest layer's)
//     dequantised layer Wf                        only with compress_weights
//     KV slots          2 * Kb when cg < 100      Kb = b * (s + n) * Kt, one GPU batch's K and V
//                                                 of one layer (the runner allocates the slots
//                                                 whenever a unit's cache is off the GPU)
//     hidden slots      2 * hb when ag < 100      hb = b * s * d * 2, one GPU batch's hidden
//                                                 states
//     prefill scratch   b * s * (2 d + 2 q + 2 kv + m * f [+ E]) * 2   normed, q, k, v,
//                                                 attention, the MLP's intermediates, out (and
//                                                 the embedding where E != d), f16
//     logits            B * V * 4 + b * V * 2     the block's, f32, and one GPU batch's staging
//     dequantised KV    b * (s + n) * Kf          Kf = f16 K and V bytes of one token in one
//                                                 layer; only with compress_cache
//   CPU workspace: 2 * (Wl - part(Wl, wg) - part(Wl, wc)), the pinned staging of a layer's
//   disk-resident weights (the runtime's plan: the largest layer's); where any cache or
//   activations are on disk, max(Kb / 2, hb) + 2 * (Kb + hb) of pinned load and store stagings;
//   with cpu_attention two sets of one GPU batch's decode q, k, v and output, b * (2 q + 2 kv) * 2
//   * 2, and with compress_cache the dequantised KV above.
// Moving a percentage from GPU to CPU never increases the GPU total when L >= 2 (the double
// buffer holds 2 layers' worth of what leaves the GPU).
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
// The plan with the weights' terms given: the runtime knows each tensor's tier
// (runtime/schedule/weight_placement.h), and a layer's share varies, so its slots are sized for the
// largest layer's.
MemoryPlan plan_memory(const ModelFootprint& model, const Workload& workload, const Policy& policy,
                       const WeightBytes& weights);

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
