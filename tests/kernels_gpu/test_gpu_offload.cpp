// The offloading schedule on the GPU: pinned CPU tier, disk folder, the transfer streams and
// events. Same equivalences as on the CPU: data-moving policies are bitwise-identical to the
// all-resident policy; CPU attention (float16 cache on the CPU) is close and keeps greedy tokens;
// int4 weights, wherever they lie, give the logits of the int4-rounded dense model; an int8 cache
// gives the same logits wherever it lies, near the float16 ones.
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
  check_runs_equal(model, DeviceChoice::kGpu, data_moving_policies(), resident, disk.path());
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
  check_runs_equal(model, DeviceChoice::kGpu, compressed_weight_policies(), dense, disk.path());
}

TEST_CASE("GPU: an int8 cache gives the same logits wherever it lies, near the float16 ones",
          "[gpu][offload][e2e]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny");
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  const Run dense =
      run_policy(model, DeviceChoice::kGpu, policy_with(100, 0, 100, 0, 100, 0), disk.path());
  const std::vector<PolicyCase> cases = compressed_cache_policies();
  const Run int8 = run_policy(model, DeviceChoice::kGpu, cases[0].policy, disk.path());
  check_runs_equal(model, DeviceChoice::kGpu, std::span(cases).subspan(1), int8, disk.path());
  for (size_t step = 0; step < dense.logits.size(); ++step) {
    INFO(name << " int8 against float16, step " << step);
    const Comparison c = compare(int8.logits[step].data(), dense.logits[step].data(),
                                 dense.logits[step].size(), 0, step == 0 ? 0 : 1e-1);
    CHECK(c.ok());
  }
  Policy cpu_attention = policy_with(20, 80, 0, 100, 0, 100);
  cpu_attention.compress_cache = true;
  cpu_attention.cpu_attention = true;
  const Run cpu = run_policy(model, DeviceChoice::kGpu, cpu_attention, disk.path());
  for (size_t step = 0; step < cpu.logits.size(); ++step) {
    INFO(name << " CPU attention over the int8 cache, step " << step);
    CHECK(compare(cpu.logits[step].data(), int8.logits[step].data(), cpu.logits[step].size(), 2e-2,
                  2e-2)
              .ok());
  }
  CHECK(cpu.tokens == int8.tokens);
}

}  // namespace alisa::test

namespace alisa::test {

TEST_CASE("GPU: SWA gives the same logits wherever the cache lies", "[gpu][swa][offload][e2e]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny");
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  SwaOptions swa = sparse_swa_options();
  swa.granularity = GENERATE(SwaGranularity::kLayer, SwaGranularity::kHead);
  const Policy resident = policy_with(100, 0, 100, 0, 100, 0);
  const Run reference =
      run_policy(model, DeviceChoice::kGpu, resident, disk.path(), kSwaDecodeSteps, swa);
  check_runs_equal(model, DeviceChoice::kGpu, swa_compute_placements(), reference, disk.path(),
                   kSwaDecodeSteps, swa);
  // CPU attention computes the weights (and so the score) in float32 from the same float16
  // cache: close, the same greedy tokens.
  for (const PolicyCase& c : swa_cpu_attention_placements()) {
    const Run cpu =
        run_policy(model, DeviceChoice::kGpu, c.policy, disk.path(), kSwaDecodeSteps, swa);
    for (size_t step = 0; step < cpu.logits.size(); ++step) {
      INFO(name << ", " << c.what << ", step " << step);
      CHECK(compare(cpu.logits[step].data(), reference.logits[step].data(), cpu.logits[step].size(),
                    2e-2, 2e-2)
                .ok());
    }
    CHECK(cpu.tokens == reference.tokens);
  }
  // The CPU engine (float32) selects the same tokens: logits within float16 tolerance for as
  // long as the two feed the same tokens (a near-tie in the greedy choice may part them later;
  // the kernels' own tests compare selections on equal inputs).
  const Run cpu_engine =
      run_policy(model, DeviceChoice::kCpu, resident, disk.path(), kSwaDecodeSteps, swa);
  size_t compared = 0;
  for (size_t step = 0; step < cpu_engine.logits.size(); ++step) {
    INFO(name << ", the CPU engine, step " << step);
    CHECK(compare(reference.logits[step].data(), cpu_engine.logits[step].data(),
                  cpu_engine.logits[step].size(), 5e-2, 5e-2)
              .ok());
    ++compared;
    if (cpu_engine.tokens[step] != reference.tokens[step]) break;
  }
  CHECK(compared >= cpu_engine.logits.size() / 2);
}

TEST_CASE("GPU: SWA with a budget over every token gives the dense logits",
          "[gpu][swa][offload][e2e]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny");
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  const Policy resident = policy_with(100, 0, 100, 0, 100, 0);
  const Run dense = run_policy(model, DeviceChoice::kGpu, resident, disk.path(), kSwaDecodeSteps);
  SwaOptions all = sparse_swa_options();
  all.min_tokens = 64;
  const Run swa =
      run_policy(model, DeviceChoice::kGpu, resident, disk.path(), kSwaDecodeSteps, all);
  for (size_t step = 0; step < dense.logits.size(); ++step) {
    INFO(name << " step " << step);
    CHECK(compare(swa.logits[step].data(), dense.logits[step].data(), dense.logits[step].size(),
                  1e-2, 1e-2)
              .ok());
  }
  CHECK(swa.tokens == dense.tokens);
}

}  // namespace alisa::test

namespace alisa::test {

TEST_CASE("GPU: SWA Phase III (recomputed K and V) gives the logits of Phase I and II",
          "[gpu][swa][offload][e2e]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny");
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  const SwaOptions swa = sparse_swa_options();
  const Run reference = run_policy(model, DeviceChoice::kGpu, policy_with(100, 0, 100, 0, 100, 0),
                                   disk.path(), kSwaDecodeSteps, swa);
  for (const PolicyCase& c : swa_recompute_placements()) {
    // float16 K and V recomputed by a GEMM over other rows: equal up to float16 rounding.
    const Run recomputed =
        run_policy(model, DeviceChoice::kGpu, c.policy, disk.path(), kSwaDecodeSteps, swa);
    for (size_t step = 0; step < reference.logits.size(); ++step) {
      INFO(name << ", " << c.what << ", step " << step);
      CHECK(compare(recomputed.logits[step].data(), reference.logits[step].data(),
                    reference.logits[step].size(), 2e-2, 2e-2)
                .ok());
    }
    CHECK(recomputed.tokens == reference.tokens);
  }
}

}  // namespace alisa::test
