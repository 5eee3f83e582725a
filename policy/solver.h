// The policy solver: for every discrete choice (gpu_batch_size, num_gpu_batches, cpu_attention,
// compression, Phase III's cache_recompute_percent) a linear program places weights, cache and
// activations (the six percentages) to minimise the cost model's time under the memory caps, as
// FlexGen's LP does; the choice whose placement predicts the most tokens per second wins.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "policy/cost_model.h"

namespace alisa {

struct SolverOptions {
  MemoryCaps caps;                 // 0 = unlimited (give the GPU's: a plan must fit it)
  int64_t max_sequences = 0;       // the job's sequences: no block larger (0: no limit)
  bool allow_compression = false;  // int4 weights / int8 cache change the model's outputs
  bool allow_cpu_attention = true;
  std::vector<int64_t> gpu_batch_sizes = {1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256};
  int64_t max_gpu_batches = 64;
  // Kept free on every capped tier (at most this share of the cap): the linear program's
  // rounding, the plan's few nonlinear bytes (SWA's per-unit state) and what the allocators add
  // to the plan (alignment, kernels' scratch) fit in it. On the H100 host a 14.5 GiB plan
  // needed 50-70 MiB more than planned.
  uint64_t memory_margin_bytes = uint64_t{256} << 20;
  double memory_margin_share = 0.03;
};

struct SolvedPolicy {
  Policy policy;
  Prediction prediction;
  // Why this one: what bounds its time, which caps are full, why the block is not larger, and
  // the best of the other attention choice.
  std::vector<std::string> limits;
  int64_t candidates = 0;  // discrete choices whose linear program was solved
};

// The placement the linear program gives `choice`'s discrete part (batch shape, attention,
// compression, recompute share): its percentages minimise the predicted time under the caps,
// with the cache or the activations wholly on the GPU where `fixed` says so (the runner's
// streaming slots exist as soon as any of a kind is off the GPU: a step the program cannot see,
// so the search tries both sides of it). Nothing when no placement fits.
struct FixedPlacement {
  bool cache_on_gpu = false;        // cache_gpu_percent 100: the runner needs no KV slots
  bool activations_on_gpu = false;  // activations_gpu_percent 100: no hidden-state slots
};
std::optional<Policy> place_policy(const CostInputs& in, const Policy& choice,
                                   const SolverOptions& options, const FixedPlacement& fixed = {});

// Whether Phase III can save memory: it runs with sparse window attention at layer granularity
// and saves only where a hidden state is smaller than a token's K and V.
bool phase3_applies(const ModelFootprint& model, const SwaOptions& swa);

// The memory a policy needs per tier, as a caller plans it (block_memory_plan over its block).
using MemoryPlanFn = std::function<MemoryPlan(const Policy&)>;

// Phase III's share for a policy that says `cache_recompute_percent: auto`: the least that makes
// the CPU tier of `plan` fit `cpu_cap` (1% steps), raised only while more of the prompt can be
// kept; 0 where nothing fits (the plan without it is then the one refused) or where Phase III
// does not apply to the run (`applies`: phase3_applies) or to the policy (cpu_attention,
// compress_cache, or no cache on the CPU).
double auto_recompute_percent(const Policy& policy, const MemoryPlanFn& plan, uint64_t cpu_cap,
                              int64_t capacity, int64_t prompt_len, bool applies);

// Throws alisa::Error explaining why when no policy fits the caps (the smallest one's memory,
// term by term, against the cap it exceeds).
SolvedPolicy solve_policy(const CostInputs& in, const SolverOptions& options);

// The cache capacities (positions per row) a job's plan weighs: the least that holds its longest
// prompt and longest generation (their sum), and that times each of kJobCapacityHeadroom; at most
// `max_positions` (the model's). More capacity costs cache memory (and nothing else: a step reads
// the positions written so far) but lets refill go on longer before a block must drain. Without
// refill only the least.
inline constexpr double kJobCapacityHeadroom[] = {1.25, 1.5, 2, 3};
std::vector<int64_t> job_capacities(const std::vector<SequenceLengths>& job, bool refill,
                                    int64_t max_positions);

// The best policy for a job of uneven lengths: solve_policy over job_cost_inputs(in, job, C) for
// each capacity C of `capacities` (blocks no larger than the job), ranked by the predicted useful
// throughput (prediction.job holds the capacity chosen). `limits` says what the other capacities
// predict. Throws like solve_policy when no capacity fits.
SolvedPolicy solve_job_policy(const CostInputs& in, const JobWorkload& job,
                              const std::vector<int64_t>& capacities, const SolverOptions& options);

// What bounds the predicted time, the busy time of every resource, and each capped tier's use.
std::vector<std::string> describe_prediction(const Prediction& prediction, const MemoryCaps& caps);

// One line: the block, the placement, the attention and compression choices, the prediction.
std::string solved_policy_summary(const SolvedPolicy& solved);

// The policy as the YAML `--policy` reads, with a comment header of predictions and limits.
std::string solved_policy_yaml(const SolvedPolicy& solved, const std::string& header);

}  // namespace alisa
