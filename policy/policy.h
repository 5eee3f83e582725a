// Policy: where the weights, KV cache and activations live and how the block is shaped
// (FlexGen's policy space). Read from YAML, validated once; immutable afterwards.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace alisa {

// compress_weights: int4 values with an f16 scale and an f16 minimum per group of this many.
inline constexpr int64_t kWeightGroupSize = 64;

struct Policy {
  // One weight load serves block_size() = gpu_batch_size * num_gpu_batches sequences.
  int64_t gpu_batch_size = 1;
  int64_t num_gpu_batches = 1;
  // Percentages (0-100) on the GPU and on the CPU; the rest (100 - gpu - cpu) is on disk.
  double weights_gpu_percent = 100;
  double weights_cpu_percent = 0;
  double cache_gpu_percent = 100;
  double cache_cpu_percent = 0;
  double activations_gpu_percent = 100;
  double activations_cpu_percent = 0;
  bool cpu_attention = false;     // attend CPU-resident KV on the CPU
  bool pin_weights = true;        // CPU-resident weights in pinned memory
  bool compress_weights = false;  // int4 group-wise (kWeightGroupSize), dequantised on the GPU
  bool compress_cache = false;    // int8 with an f16 scale and zero per token and head
  // Sparse window attention's Phase III: of each CPU-resident cache, the oldest positions (this
  // share of the capacity, at most the prompt's) keep the layer's input hidden states instead of
  // K and V; selected ones are recomputed on the GPU (docs/SWA.md).
  double cache_recompute_percent = 0;
  // `cache_recompute_percent: auto`: the smallest whole percentage whose memory plan fits the
  // caps (0 when everything fits, or where Phase III cannot run), chosen when a runner is made.
  bool cache_recompute_auto = false;

  int64_t block_size() const { return gpu_batch_size * num_gpu_batches; }
  double weights_disk_percent() const { return 100 - weights_gpu_percent - weights_cpu_percent; }
  double cache_disk_percent() const { return 100 - cache_gpu_percent - cache_cpu_percent; }
  double activations_disk_percent() const {
    return 100 - activations_gpu_percent - activations_cpu_percent;
  }
};

// Why continuous batching (refill) cannot serve this policy, or empty where it can: an int8 cache
// attended on the CPU (compress_cache with cpu_attention) would quantise a refilled row's prompt
// through mapped memory.
std::string refill_unsupported(const Policy& policy);

// Phase III: how many of a CPU-resident cache's oldest positions keep hidden states for a job of
// `capacity` tokens per sequence whose prompt step has `prompt_len`: cache_recompute_percent of
// the capacity, rounded, at most the prompt.
int64_t kept_hidden_positions(const Policy& policy, int64_t capacity, int64_t prompt_len);

// The keys a policy YAML may hold, for messages.
const char* policy_keys();

// Throws alisa::Error naming `source` and the key when a batch size is < 1 (or their product
// absurd), a percentage is outside [0, 100] (or not a number), or gpu + cpu > 100 for a kind.
void validate(const Policy& policy, const std::string& source);

// Parses a policy YAML mapping (every key optional, defaults as above) and validates it. Unknown
// or repeated keys, wrong types and malformed YAML throw alisa::Error naming `source` and the key.
Policy policy_from_yaml(const std::string& yaml_text, const std::string& source);
// Reads and parses a policy file; errors name the path.
Policy load_policy(const std::filesystem::path& path);
// A policy's settings as its file lists them, in order: each key with its value (an integer, a
// percentage, true or false; cache_recompute_percent's may be "auto").
using PolicyValue = std::variant<int64_t, double, bool, std::string>;
std::vector<std::pair<std::string, PolicyValue>> policy_settings(const Policy& policy);
// The YAML policy_from_yaml reads back to the same policy (every key, percentages to 10
// significant digits).
std::string policy_to_yaml(const Policy& policy);

}  // namespace alisa
