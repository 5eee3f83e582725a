// Runs of the offloading schedule over a fixture model on a given device (the tests run them on
// every device of test_devices()): the same block of left-padded random prompts, prefill then
// greedy decode steps.
#pragma once

#include <filesystem>
#include <functional>
#include <span>
#include <vector>

#include "runtime/jobs/engine.h"
#include "tests/support/test_devices.h"

namespace alisa::test {

struct Run {
  std::vector<std::vector<float>> logits;  // per step: [block, vocab]
  std::vector<std::vector<int32_t>> tokens;
};

// gpu_batch_size 2, num_gpu_batches 3, the given GPU and CPU percentages.
Policy policy_with(double wg, double wc, double cg, double cc, double ag, double ac);

// A 7-token prompt (left-padded by s % 3 for sequence s), then n_decode greedy steps. With a
// teacher, each step is fed the teacher's tokens instead of its own (teacher forcing): runs whose
// roundings differ then see the same inputs, so their logits stay comparable after a near-tie.
Run run_policy(const std::filesystem::path& model, const TestDevice& device, const Policy& policy,
               const std::filesystem::path& offload_dir, int64_t n_decode = 4,
               const SwaOptions& swa = {}, const Run* teacher = nullptr);

bool bitwise_equal(const Run& a, const Run& b);

// The cases whose policies only move data, against policy_with(100, 0, 100, 0, 100, 0).
struct PolicyCase {
  const char* what;
  Policy policy;
};
std::vector<PolicyCase> data_moving_policies();
// CHECKs that each case's run is bitwise `reference`, naming the case when not.
void check_runs_equal(const std::filesystem::path& model, const TestDevice& device,
                      std::span<const PolicyCase> cases, const Run& reference,
                      const std::filesystem::path& offload_dir, int64_t n_decode = 4,
                      const SwaOptions& swa = {});
// cpu_attention policies: the whole cache on the CPU (every GPU batch attended there, the next
// one's queries computed meanwhile), or half of it (GPU batches alternate between the GPU and
// the CPU), with the hidden states on either side.
std::vector<PolicyCase> cpu_attention_policies();
// compress_weights policies: all resident (the reference the others must equal bitwise), then
// the compressed weights on the CPU, on disk, split across the three tiers.
std::vector<PolicyCase> compressed_weight_policies();
// compress_cache policies: the int8 cache on the GPU (the reference the others must equal
// bitwise), on the CPU, on disk, split across the three tiers.
std::vector<PolicyCase> compressed_cache_policies();
// Sparse Window Attention over these runs: 10 decode steps take the 7-token prompts to 17 tokens,
// and sparsity 0.5 with min_tokens 2 and a 3-step score window leaves tokens out from the first.
constexpr int64_t kSwaDecodeSteps = 10;
SwaOptions sparse_swa_options();
// The cache where SWA's three phases keep it, attended on the compute device: on the CPU (the
// selected tokens read in place), on disk, split across the tiers with weights and activations
// moved too. Against policy_with(100, 0, 100, 0, 100, 0), bitwise.
std::vector<PolicyCase> swa_compute_placements();
// The cache on the CPU, attended there (all of it, or half the GPU batches).
std::vector<PolicyCase> swa_cpu_attention_placements();
// Phase III: swa_compute_placements() with the oldest positions of CPU-resident caches kept as
// hidden states (all of the prompt's), their K and V recomputed when selected.
std::vector<PolicyCase> swa_recompute_placements();
// Writes to `folder` a copy of the checkpoint at `model`: every tensor passed through
// `transform` (its slot and float32 values) and stored in `dtype` (f32 or bf16), config.json's
// dtype saying so.
using WeightTransform = std::function<void(const WeightSlot& slot, std::vector<float>& values)>;
void write_checkpoint_copy(const std::filesystem::path& model, const std::filesystem::path& folder,
                           DType dtype, const WeightTransform& transform);
// Writes to `folder` a float32 copy of the checkpoint at `model` whose layer matrices went through
// int4 and back (group-wise, as compress_weights stores them): a dense run of it must give what a
// compressed run of the original gives.
void write_int4_rounded_checkpoint(const std::filesystem::path& model,
                                   const std::filesystem::path& folder);

}  // namespace alisa::test
