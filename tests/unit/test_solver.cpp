#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/solver.h"
#include "runtime/base/common.h"
#include "runtime/model/model_spec.h"
#include "tests/unit/cost_test_support.h"

namespace alisa {
namespace {

using cost_test::kGiB;
using cost_test::test_hardware;

CostInputs inputs(const std::string& model, int64_t prompt_len, int64_t gen_len) {
  CostInputs in;
  in.model = model_footprint(named_model_spec(model));
  in.workload = {.prompt_len = prompt_len, .gen_len = gen_len};
  in.hardware = test_hardware();
  return in;
}

// A search small enough for a unit test.
SolverOptions small_search(uint64_t gpu_bytes, uint64_t cpu_bytes) {
  SolverOptions options;
  options.caps = {.gpu_bytes = gpu_bytes, .cpu_bytes = cpu_bytes, .disk_bytes = 0};
  options.gpu_batch_sizes = {4, 16, 64};
  options.max_gpu_batches = 8;
  return options;
}

TEST_CASE("solver: everything on the GPU when it fits", "[solver]") {
  const SolvedPolicy s = solve_policy(inputs("opt-1.3b", 128, 32), small_search(70 * kGiB, 0));
  CHECK(s.policy.weights_gpu_percent == Approx(100));
  CHECK(s.policy.cache_gpu_percent == Approx(100));
  CHECK(s.policy.activations_gpu_percent == Approx(100));
  // The largest GPU batch searched (GEMMs grow more efficient with it); more GPU batches only
  // repeat the same work when nothing streams.
  CHECK(s.policy.gpu_batch_size == 64);
  CHECK(fits(s.prediction.memory, {.gpu_bytes = 70 * kGiB}));
}

TEST_CASE("solver: the linear program's placement beats every placement on a grid", "[solver]") {
  const CostInputs in = inputs("opt-6.7b", 128, 64);
  SolverOptions options = small_search(static_cast<uint64_t>(14.5 * kGiB), 40 * kGiB);
  options.memory_margin_bytes = 1 << 20;  // the grid's placements may use all but 2 MiB
  const MemoryCaps grid_caps{.gpu_bytes = options.caps.gpu_bytes - (2 << 20),
                             .cpu_bytes = options.caps.cpu_bytes - (2 << 20)};
  for (bool cpu_attention : {false, true}) {
    Policy choice;
    choice.gpu_batch_size = 16;
    choice.num_gpu_batches = 4;
    choice.cpu_attention = cpu_attention;
    const std::optional<Policy> placed = place_policy(in, choice, options);
    REQUIRE(placed);
    const MemoryPlan plan = memory_plan_of(in, *placed);
    CHECK(fits(plan, options.caps));
    const double best = predict(in, *placed).prefill_s + predict(in, *placed).decode_s;
    int grid_fits = 0;
    for (int wg = 0; wg <= 100; wg += 10) {
      for (int cg = 0; cg <= 100; cg += 10) {
        for (int ag : {0, 100}) {
          Policy p = choice;
          p.weights_gpu_percent = wg, p.weights_cpu_percent = 100 - wg;
          p.cache_gpu_percent = cg, p.cache_cpu_percent = 100 - cg;
          p.activations_gpu_percent = ag, p.activations_cpu_percent = 100 - ag;
          if (!fits(memory_plan_of(in, p), grid_caps)) continue;
          ++grid_fits;
          const Prediction q = predict(in, p);
          INFO("wg " << wg << " cg " << cg << " ag " << ag << " cpu_attention " << cpu_attention);
          CHECK(best <= (q.prefill_s + q.decode_s) * (1 + 1e-6));
        }
      }
    }
    CHECK(grid_fits > 3);
  }
}

TEST_CASE("solver: more memory never yields a worse plan", "[solver]") {
  const CostInputs in = inputs("opt-6.7b", 128, 64);
  double previous = 0;
  for (double gpu_gib : {4.0, 8.0, 12.0, 14.5, 20.0, 32.0, 60.0}) {
    const SolvedPolicy s =
        solve_policy(in, small_search(static_cast<uint64_t>(gpu_gib * kGiB), 40 * kGiB));
    INFO("GPU cap " << gpu_gib << " GiB: " << solved_policy_summary(s));
    CHECK(s.prediction.total_throughput >= previous * (1 - 1e-6));
    previous = s.prediction.total_throughput;
  }
  previous = 0;
  for (double cpu_gib : {20.0, 30.0, 40.0, 80.0}) {
    const SolvedPolicy s =
        solve_policy(in, small_search(10 * kGiB, static_cast<uint64_t>(cpu_gib * kGiB)));
    INFO("CPU cap " << cpu_gib << " GiB: " << solved_policy_summary(s));
    CHECK(s.prediction.total_throughput >= previous * (1 - 1e-6));
    previous = s.prediction.total_throughput;
  }
}

TEST_CASE("solver: more bandwidth never yields a slower plan", "[solver]") {
  CostInputs in = inputs("opt-6.7b", 128, 64);
  const SolverOptions options = small_search(10 * kGiB, 40 * kGiB);
  const double before = solve_policy(in, options).prediction.total_throughput;
  in.hardware.h2d_pinned.alone_gbps *= 2;
  in.hardware.h2d_pinned.duplex_gbps *= 2;
  const double after = solve_policy(in, options).prediction.total_throughput;
  CHECK(after >= before * (1 - 1e-6));
  CHECK(after > before);  // this job streams weights or cache: a faster link must show
}

TEST_CASE("solver: explains what limits the winner", "[solver]") {
  const SolvedPolicy s = solve_policy(inputs("opt-6.7b", 128, 64),
                                      small_search(static_cast<uint64_t>(14.5 * kGiB), 40 * kGiB));
  REQUIRE(s.limits.size() >= 4);
  CHECK_THAT(s.limits[0], Catch::StartsWith("decode bound by "));
  CHECK_THAT(s.limits[1], Catch::StartsWith("decode busy time per layer and step:"));
  CHECK_THAT(s.limits[2], Catch::StartsWith("GPU memory "));
  CHECK_THAT(s.limits[3], Catch::StartsWith("CPU memory "));
  bool block_explained = false;
  for (const std::string& line : s.limits) {
    block_explained = block_explained || line.rfind("block ", 0) == 0;
  }
  CHECK(block_explained);
  CHECK(s.candidates > 10);
  CHECK(s.prediction.bottleneck_share > 0.5);
}

TEST_CASE("solver: the block never exceeds the job's sequences", "[solver]") {
  SolverOptions options = small_search(70 * kGiB, 0);
  options.max_sequences = 10;
  const SolvedPolicy s = solve_policy(inputs("opt-1.3b", 64, 16), options);
  CHECK(s.policy.block_size() <= 10);
  CHECK_THAT(s.limits.back(),
             Catch::Contains("the job has 10 sequences") || Catch::Contains("cpu_attention"));
}

TEST_CASE("solver: Phase III only with SWA, and never worse than without it", "[solver]") {
  CostInputs in = inputs("opt-6.7b", 512, 64);
  in.swa = {.sparsity = 0.8, .min_tokens = 16};
  const SolverOptions options = small_search(static_cast<uint64_t>(14.5 * kGiB), 24 * kGiB);
  const SolvedPolicy with_swa = solve_policy(in, options);
  // The same search limited to recompute 0 (no SWA-specific variants) is never better.
  Policy no_phase3 = with_swa.policy;
  no_phase3.cache_recompute_percent = 0;
  const std::optional<Policy> placed = place_policy(in, no_phase3, options);
  if (placed) {
    CHECK(predict(in, *placed).total_throughput <=
          with_swa.prediction.total_throughput * (1 + 1e-6));
  }
  in.swa = {};
  const SolvedPolicy dense = solve_policy(in, options);
  CHECK(dense.policy.cache_recompute_percent == 0);
}

TEST_CASE("solver: infeasible caps are explained", "[solver]") {
  const CostInputs in = inputs("opt-6.7b", 128, 64);
  CHECK_THROWS_WITH(solve_policy(in, small_search(100 << 20, 40 * kGiB)),
                    Catch::Contains("no policy fits") && Catch::Contains("GPU memory") &&
                        Catch::Contains("gpu_memory_limit"));
  CHECK_THROWS_WITH(solve_policy(in,
                                 [] {
                                   SolverOptions o = small_search(4 * kGiB, 1 * kGiB);
                                   o.caps.disk_bytes = 1 * kGiB;
                                   return o;
                                 }()),
                    Catch::Contains("no policy fits") && Catch::Contains("disk"));
}

TEST_CASE("solver: the printed policy reads back as the same policy", "[solver]") {
  const SolvedPolicy s = solve_policy(inputs("opt-6.7b", 128, 64),
                                      small_search(static_cast<uint64_t>(14.5 * kGiB), 40 * kGiB));
  const std::string yaml = solved_policy_yaml(s, "# header\n");
  CHECK_THAT(yaml, Catch::StartsWith("# header\n# predicted: "));
  const Policy back = policy_from_yaml(yaml, "solved.yaml");
  CHECK(back.block_size() == s.policy.block_size());
  CHECK(back.weights_gpu_percent == Approx(s.policy.weights_gpu_percent).epsilon(1e-9));
  CHECK(back.cache_cpu_percent == Approx(s.policy.cache_cpu_percent).epsilon(1e-9));
  CHECK(back.cpu_attention == s.policy.cpu_attention);
}

}  // namespace
}  // namespace alisa
