// The offloading schedule on the GPU: pinned CPU tier, disk folder, the transfer streams and
// events. Same equivalences as on the CPU: data-moving policies are bitwise-identical to the
// all-resident policy; CPU attention (float16 cache on the CPU) is close and keeps greedy tokens;
// int4 weights, wherever they lie, give the logits of the int4-rounded dense model.
#include <catch2/catch.hpp>

#include "tests/runtime/offload_runs.h"
#include "tests/test_support.h"

namespace alisa::test {

TEST_CASE("GPU: policies that only move data give bitwise-identical logits",
          "[gpu][offload][e2e]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny");
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  const Run resident =
      run_policy(model, DeviceChoice::kGpu, policy_with(100, 0, 100, 0, 100, 0), disk.path());
  for (const PolicyCase& c : data_moving_policies()) {
    INFO(name << ": " << c.what);
    CHECK(bitwise_equal(run_policy(model, DeviceChoice::kGpu, c.policy, disk.path()), resident));
  }
}

TEST_CASE("GPU: CPU attention over a pinned cache matches and keeps greedy tokens",
          "[gpu][offload][e2e]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny");
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  const Run resident =
      run_policy(model, DeviceChoice::kGpu, policy_with(100, 0, 100, 0, 100, 0), disk.path());
  for (const PolicyCase& policy : cpu_attention_policies()) {
    const Run cpu = run_policy(model, DeviceChoice::kGpu, policy.policy, disk.path());
    REQUIRE(cpu.logits.size() == resident.logits.size());
    for (size_t step = 0; step < cpu.logits.size(); ++step) {
      INFO(name << ", " << policy.what << ", step " << step);
      // float16 activations: the CPU attends the same f16 cache with f32 accumulation.
      const Comparison c = compare(cpu.logits[step].data(), resident.logits[step].data(),
                                   cpu.logits[step].size(), 2e-2, 2e-2);
      CHECK(c.ok());
    }
    CHECK(cpu.tokens == resident.tokens);
  }
}

TEST_CASE("GPU: int4 weights give the logits of the int4-rounded dense model",
          "[gpu][offload][e2e]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny");
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk, rounded;
  write_int4_rounded_checkpoint(model, rounded.path());
  const Run dense = run_policy(rounded.path(), DeviceChoice::kGpu,
                               policy_with(100, 0, 100, 0, 100, 0), disk.path());
  for (const PolicyCase& c : compressed_weight_policies()) {
    INFO(name << ": " << c.what);
    CHECK(bitwise_equal(run_policy(model, DeviceChoice::kGpu, c.policy, disk.path()), dense));
  }
}

}  // namespace alisa::test
