#include "tests/runtime/offload_runs.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <random>

namespace alisa::test {

Policy policy_with(double wg, double wc, double cg, double cc, double ag, double ac) {
  Policy p;
  p.gpu_batch_size = 2;
  p.num_gpu_batches = 3;
  p.weights_gpu_percent = wg;
  p.weights_cpu_percent = wc;
  p.cache_gpu_percent = cg;
  p.cache_cpu_percent = cc;
  p.activations_gpu_percent = ag;
  p.activations_cpu_percent = ac;
  p.pin_weights = true;
  return p;
}

// A left-padded block of random prompts, prefill then greedy decode steps.
Run run_policy(const std::filesystem::path& model, DeviceChoice device, const Policy& policy,
               const std::filesystem::path& offload_dir, int64_t n_decode) {
  Engine engine({.model = model.string(),
                 .backend = {.device = device, .n_threads = 2},
                 .policy = policy,
                 .offload_dir = offload_dir});
  const int64_t block = policy.block_size();
  const int64_t prompt = 7;
  std::unique_ptr<BlockRunner> runner =
      engine.make_block_runner(block, prompt + n_decode + 1, prompt);
  REQUIRE(runner->shape().block_size() == block);
  std::mt19937 rng(11);
  std::vector<int32_t> ids(static_cast<size_t>(block * prompt));
  std::vector<uint8_t> mask(ids.size(), 1);
  for (int64_t s = 0; s < block; ++s) {
    for (int64_t i = 0; i < prompt; ++i) {
      ids[static_cast<size_t>(s * prompt + i)] =
          static_cast<int32_t>(rng() % static_cast<uint32_t>(engine.spec().vocab_size));
      // Sequence s is left-padded by s % 3 tokens.
      if (i < s % 3) mask[static_cast<size_t>(s * prompt + i)] = 0;
    }
  }
  Run run;
  runner->step(ids, mask, prompt);
  const std::vector<uint64_t> keys(static_cast<size_t>(block), 0);
  const std::vector<uint8_t> ones(static_cast<size_t>(block), 1);
  for (int64_t t = 0; t <= n_decode; ++t) {
    run.logits.push_back(runner->logits_to_host());
    run.tokens.push_back(runner->sample({}, keys, static_cast<uint64_t>(t)));
    if (t < n_decode) runner->step(run.tokens.back(), ones, 1);
  }
  return run;
}

bool bitwise_equal(const Run& a, const Run& b) {
  if (a.logits.size() != b.logits.size()) return false;
  for (size_t i = 0; i < a.logits.size(); ++i) {
    if (a.logits[i].size() != b.logits[i].size() ||
        std::memcmp(a.logits[i].data(), b.logits[i].data(), a.logits[i].size() * sizeof(float)) !=
            0) {
      return false;
    }
  }
  return a.tokens == b.tokens;
}

std::vector<PolicyCase> data_moving_policies() {
  return {
      {"weights on the CPU", policy_with(0, 100, 100, 0, 100, 0)},
      {"weights on disk", policy_with(0, 0, 100, 0, 100, 0)},
      {"weights split 30/40/30", policy_with(30, 40, 100, 0, 100, 0)},
      {"KV cache on the CPU", policy_with(100, 0, 0, 100, 100, 0)},
      {"KV cache on disk", policy_with(100, 0, 0, 0, 100, 0)},
      {"KV cache split 40/30/30", policy_with(100, 0, 40, 30, 100, 0)},
      {"activations on the CPU", policy_with(100, 0, 100, 0, 0, 100)},
      {"activations on disk", policy_with(100, 0, 100, 0, 0, 0)},
      {"everything split", policy_with(20, 50, 30, 40, 34, 33)},
  };
}

std::vector<PolicyCase> cpu_attention_policies() {
  std::vector<PolicyCase> cases = {
      {"cache and activations on the CPU", policy_with(20, 80, 0, 100, 0, 100)},
      {"cache split 50/50, activations on the GPU", policy_with(20, 80, 50, 50, 100, 0)},
  };
  for (PolicyCase& c : cases) c.policy.cpu_attention = true;
  return cases;
}

}  // namespace alisa::test
