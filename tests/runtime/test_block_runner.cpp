// The offloading schedule on every test device (tests/support/test_devices.h): the compute
// device's memory (on the CPU, an arena standing in for GPU memory), a capped CPU tier (pinned on
// GPU runs) and a disk folder. Policies that only move data must give bitwise-identical logits to
// the all-resident policy; CPU attention must match within the device's tolerance with the same
// tokens; int4 weights, wherever they lie, give the logits of the int4-rounded dense model; an
// int8 cache gives the same logits wherever it lies, near the float ones.
#include <catch2/catch.hpp>

#include "runtime/jobs/engine.h"
#include "tests/runtime/offload_runs.h"
#include "tests/support/test_devices.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

using Catch::Matchers::Contains;

// Checks that `run` sampled the reference's greedy token wherever the reference's winner leads by
// more than `margin`; returns how many rows were so decided.
int64_t check_decided_tokens(const Run& run, const Run& reference, double margin) {
  int64_t decided = 0;
  for (size_t step = 0; step < reference.tokens.size(); ++step) {
    const size_t rows = reference.tokens[step].size();
    const int64_t vocab = static_cast<int64_t>(reference.logits[step].size() / rows);
    for (size_t row = 0; row < rows; ++row) {
      if (!clear_winner(&reference.logits[step][row * static_cast<size_t>(vocab)], vocab, margin)) {
        continue;
      }
      INFO("step " << step << ", row " << row);
      CHECK(run.tokens[step][row] == reference.tokens[step][row]);
      ++decided;
    }
  }
  return decided;
}

}  // namespace

TEST_CASE("place_by_percent tracks the asked split within one item", "[offload]") {
  const std::vector<uint64_t> sizes = {100, 100, 100, 100, 400, 400, 5, 5,
                                       100, 100, 100, 100, 400, 400, 5, 5};
  const std::vector<Tier> tiers = place_by_percent(sizes, 20, 50);
  uint64_t placed[3] = {0, 0, 0}, total = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    placed[static_cast<int>(tiers[i])] += sizes[i];
    total += sizes[i];
  }
  CHECK(std::abs(static_cast<double>(placed[0]) - 0.2 * static_cast<double>(total)) <= 400);
  CHECK(std::abs(static_cast<double>(placed[1]) - 0.5 * static_cast<double>(total)) <= 400);
  CHECK(placed[0] > 0);
  CHECK(placed[2] > 0);
  // 0% asked is 0% given; 100% is all.
  for (Tier t : place_by_percent(sizes, 0, 100)) CHECK(t == Tier::kCpu);
  for (Tier t : place_by_percent(sizes, 100, 0)) CHECK(t == Tier::kCompute);
}

TEST_CASE("policies that only move data give bitwise-identical logits", "[offload][e2e][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  const std::string name = GENERATE(from_range(fixture_model_names()));
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  const Run resident = run_policy(model, device, policy_with(100, 0, 100, 0, 100, 0), disk.path());
  check_runs_equal(model, device, data_moving_policies(), resident, disk.path());
}

TEST_CASE("CPU attention over a CPU-resident cache matches and keeps greedy tokens",
          "[offload][e2e][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  const std::string name = GENERATE(from_range(fixture_model_names()));
  // CPU runs: float32 both sides. GPU runs: float16 activations, the CPU attending the same
  // float16 (pinned) cache with float32 accumulation.
  const double tolerance = device.tolerance(1e-5, 2e-2);
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  const Run resident = run_policy(model, device, policy_with(100, 0, 100, 0, 100, 0), disk.path());
  for (const PolicyCase& policy : cpu_attention_policies()) {
    const Run cpu = run_policy(model, device, policy.policy, disk.path());
    REQUIRE(cpu.logits.size() == resident.logits.size());
    for (size_t step = 0; step < cpu.logits.size(); ++step) {
      INFO(device_name(device) << ", " << name << ", " << policy.what << ", step " << step);
      const Comparison c = compare(cpu.logits[step].data(), resident.logits[step].data(),
                                   cpu.logits[step].size(), tolerance, tolerance);
      CHECK(c.ok());
    }
    CHECK(cpu.tokens == resident.tokens);
  }
}

TEST_CASE("int4 weights: every placement gives the logits of the int4-rounded dense model",
          "[offload][e2e][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  const std::string name = GENERATE(from_range(fixture_model_names()));
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk, rounded;
  write_int4_rounded_checkpoint(model, rounded.path());
  const Run dense =
      run_policy(rounded.path(), device, policy_with(100, 0, 100, 0, 100, 0), disk.path());
  check_runs_equal(model, device, compressed_weight_policies(), dense, disk.path());
  // The rounding is real: the original model's logits differ.
  const Run original = run_policy(model, device, policy_with(100, 0, 100, 0, 100, 0), disk.path());
  CHECK_FALSE(bitwise_equal(original, dense));
}

TEST_CASE("int8 KV cache: every placement gives the same logits, near the float ones",
          "[offload][e2e][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  const std::string name = GENERATE(from_range(fixture_model_names()));
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  const Run dense = run_policy(model, device, policy_with(100, 0, 100, 0, 100, 0), disk.path());
  const std::vector<PolicyCase> cases = compressed_cache_policies();
  const Run int8 = run_policy(model, device, cases[0].policy, disk.path());
  check_runs_equal(model, device, std::span(cases).subspan(1), int8, disk.path());
  // The prefill attends its own tokens before they are stored: exact. Decode steps attend the
  // int8 cache: within its rounding (seen on the CPU: 1.4e-2 on logits of magnitude 2.5; the
  // GPU's float16 activations are allowed twice that), never exact. Fed the float run's tokens,
  // so that a near-tie the int8 rounding tips (seen in bfloat16) cannot change later inputs.
  const Run forced = run_policy(model, device, cases[0].policy, disk.path(), 4, {}, &dense);
  const double int8_tolerance = device.tolerance(5e-2, 1e-1);
  REQUIRE(forced.logits.size() == dense.logits.size());
  for (size_t step = 0; step < dense.logits.size(); ++step) {
    INFO(device_name(device) << ", " << name << " int8 against float, step " << step);
    const Comparison c = compare(forced.logits[step].data(), dense.logits[step].data(),
                                 dense.logits[step].size(), 0, step == 0 ? 0 : int8_tolerance);
    CHECK(c.ok());
    if (step > 0) CHECK(c.max_abs_error > 0);
  }
  CHECK(check_decided_tokens(forced, dense, 2 * int8_tolerance) > 0);

  // CPU attention over the int8 cache: the same selection of values, float tolerance (on GPU
  // runs, float16 activations against the CPU's float32 accumulation).
  Policy cpu_attention = policy_with(20, 80, 0, 100, 0, 100);
  cpu_attention.compress_cache = true;
  cpu_attention.cpu_attention = true;
  const double tolerance = device.tolerance(1e-5, 2e-2);
  const Run cpu = run_policy(model, device, cpu_attention, disk.path(), 4, {}, &int8);
  for (size_t step = 0; step < cpu.logits.size(); ++step) {
    INFO(device_name(device) << ", " << name << " CPU attention over the int8 cache, step "
                             << step);
    CHECK(compare(cpu.logits[step].data(), int8.logits[step].data(), cpu.logits[step].size(),
                  tolerance, tolerance)
              .ok());
  }
  CHECK(check_decided_tokens(cpu, int8, 2 * tolerance) > 0);
}

TEST_CASE("generate with an offloading policy gives the all-resident completions",
          "[offload][e2e]") {
  const std::filesystem::path model = fixture_path("opt-tiny");
  ScratchDir disk;
  std::vector<Prompt> prompts;
  for (uint64_t i = 0; i < 7; ++i) {  // 7: a short last block
    prompts.push_back({.token_ids = {5, static_cast<int32_t>(10 + i), 42, 7}, .index = i});
  }
  prompts[3].token_ids = {9, 8};  // different lengths: padding
  GenerationOptions options;
  options.max_new_tokens = 5;
  options.batch_size = 3;
  options.stop_at_eos = false;
  Engine resident({.model = model.string(), .backend = {.device = DeviceChoice::kCpu}});
  Engine offloaded({.model = model.string(),
                    .backend = {.device = DeviceChoice::kCpu},
                    .policy = policy_with(30, 30, 20, 40, 50, 50),
                    .offload_dir = disk.path()});
  CHECK(offloaded.generate(prompts, options) == resident.generate(prompts, options));
}

TEST_CASE("a policy that does not fit the caps is refused with the numbers", "[offload]") {
  const std::filesystem::path model = fixture_path("opt-tiny");
  ScratchDir disk;
  try {
    Engine engine({.model = model.string(),
                   .backend = {.device = DeviceChoice::kCpu, .gpu_memory_limit = 4096},
                   .policy = policy_with(100, 0, 100, 0, 100, 0),
                   .offload_dir = disk.path()});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Contains("gpu_memory_limit") && Contains("weights"));
  }
  // The weights fit on the CPU tier, but the block's KV cache does not fit the compute arena.
  Engine engine({.model = model.string(),
                 .backend = {.device = DeviceChoice::kCpu, .gpu_memory_limit = 384 << 10},
                 .policy = policy_with(0, 100, 100, 0, 100, 0),
                 .offload_dir = disk.path()});
  CHECK_THROWS_WITH(engine.make_block_runner(6, 128, 100, false),
                    Contains("gpu_memory_limit") && Contains("KV cache"));
}

}  // namespace alisa::test
