// The cost model and solver over a job's simulated schedule (policy/job_schedule.h): prefills,
// decode steps at their write index, refill's lanes.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/cost_model.h"
#include "policy/length_distribution.h"
#include "policy/solver.h"
#include "runtime/base/common.h"
#include "runtime/model/model_spec.h"
#include "tests/unit/cost_test_support.h"

namespace alisa {
namespace {

using cost_test::fast_hardware;
using cost_test::kGiB;
using cost_test::test_hardware;

CostInputs inputs(const std::string& model, const HardwareProfile& hw) {
  CostInputs in;
  in.model = model_footprint(named_model_spec(model));
  in.hardware = hw;
  return in;
}

Policy block(int64_t b, int64_t g) {
  Policy p;
  p.gpu_batch_size = b;
  p.num_gpu_batches = g;
  return p;
}

std::vector<SequenceLengths> uneven_job(int64_t n, uint64_t seed) {
  return draw_job_lengths(parse_length_distribution("uniform:min=32,max=128", "p"),
                          parse_length_distribution("lognormal:median=32,max=128", "g"), n, seed);
}

}  // namespace

TEST_CASE("job cost: equal sequences cost what their blocks cost", "[cost_model][job]") {
  // Only the link is slow: every prefill and decode step moves every layer's weights once.
  HardwareProfile hw = fast_hardware();
  hw.h2d_pinned = {.alone_gbps = 10, .duplex_gbps = 10};
  CostInputs in = inputs("opt-1.3b", hw);
  in.workload = {.prompt_len = 64, .gen_len = 9};
  Policy p = block(4, 2);
  p.weights_gpu_percent = 0;
  p.weights_cpu_percent = 100;
  const Prediction one = predict(in, p);
  for (const bool refill : {false, true}) {
    INFO("refill " << refill);
    // Three blocks' worth; with refill too, as every row finishes at once and no request fits
    // the 73 positions after 72 are written.
    const CostInputs job_in = job_cost_inputs(
        in, {.sequences = std::vector<SequenceLengths>(24, {64, 9}), .refill = refill}, 73);
    const Prediction job = predict(job_in, p);
    REQUIRE(job.job);
    CHECK(job.prefill_s == Approx(3 * one.prefill_s).epsilon(1e-9));
    CHECK(job.decode_s == Approx(3 * one.decode_s).epsilon(1e-9));
    CHECK(job.total_throughput == Approx(one.total_throughput).epsilon(1e-9));
    CHECK(job.decode_throughput == Approx(one.decode_throughput).epsilon(1e-9));
    CHECK(job.job->prefills == 3);
    CHECK(job.job->decode_steps == 24);
    CHECK(job.job->lanes == 0);
    CHECK(job.job->idle_share == 0);
    CHECK(job.job->generated_tokens == 24 * 9);
    CHECK(job.job->useful_throughput == job.total_throughput);
    CHECK(job.job->capacity == 73);
    // The memory plan is the block's at the job's capacity and longest prompt, with refill its
    // lanes on top: the ids, positions (i32) and hidden states (f16) of b * s tokens.
    const uint64_t lanes = refill ? 4 * 64 * (8 + in.model.hidden_size * 2) : 0;
    CHECK(job.memory.gpu.total() == one.memory.gpu.total() + lanes);
    CHECK(job.memory.cpu.total() == one.memory.cpu.total());
  }
}

TEST_CASE("job cost: lanes' GEMMs and attention, by hand", "[cost_model][job]") {
  // Only GEMMs take time, at T flop/s. B = 1; (4, 3) then (2, 3) with refill: a prefill at 4,
  // decode steps at 4 ... 8, the second request a lane of the step at 6 (job_schedule's rule).
  constexpr double T = 10e12;
  HardwareProfile hw = fast_hardware();
  hw.gemm = {{.m = 1, .n = 4096, .k = 4096, .tflops = T / 1e12}};
  const CostInputs in = inputs("opt-125m", hw);
  const double L = static_cast<double>(in.model.n_layers);
  const double M = static_cast<double>(in.model.layer_matrix_params);
  const double q = static_cast<double>(in.model.q_dim);
  const double head =
      2 * static_cast<double>(in.model.vocab_size) * static_cast<double>(in.model.embed_dim) / T;
  const std::vector<SequenceLengths> job = {{4, 3}, {2, 3}};
  const Prediction refill =
      predict(job_cost_inputs(in, {.sequences = job, .refill = true}, 20), block(1, 1));
  // A prefill of s tokens of one row: 2 s M GEMM flops and 2 s^2 q attention flops per layer.
  const auto prefill_s = [&](double s) { return L * (2 * s * M + 2 * s * s * q) / T + head; };
  // (The fast profile's other costs are not quite 0: 1e-6 relative.)
  CHECK(refill.prefill_s == Approx(prefill_s(4)).epsilon(1e-6));
  // Five decode steps of 2 M flops per layer, and the lane's prefill of 2 tokens.
  CHECK(refill.decode_s ==
        Approx(L * (5 * 2 * M + 2 * 2 * M + 2 * 4 * q) / T + 5 * head).epsilon(1e-6));
  REQUIRE(refill.job);
  CHECK(refill.job->lanes == 1);
  CHECK(refill.total_throughput == Approx(6 / (refill.prefill_s + refill.decode_s)));
  // Without refill: a second block at 2 with its own two decode steps.
  const Prediction fixed =
      predict(job_cost_inputs(in, {.sequences = job, .refill = false}, 20), block(1, 1));
  CHECK(fixed.prefill_s == Approx(prefill_s(4) + prefill_s(2)).epsilon(1e-6));
  CHECK(fixed.decode_s == Approx(L * 4 * 2 * M / T + 4 * head).epsilon(1e-6));
}

TEST_CASE("job cost: lanes' K and V go to the cache's home, by hand", "[cost_model][job]") {
  // Only the GPU-to-CPU link is slow and the cache is on the CPU: each step stores its token's K
  // and V of every layer, a prefill its prompt's, a lane its prompt's.
  HardwareProfile hw = fast_hardware();
  hw.d2h_pinned = {.alone_gbps = 1, .duplex_gbps = 1};
  const CostInputs in = inputs("opt-125m", hw);
  const double L = static_cast<double>(in.model.n_layers);
  const double Kt = static_cast<double>(stored_kv_bytes_per_token_per_layer(in.model, false));
  Policy p = block(1, 1);
  p.cache_gpu_percent = 0;
  p.cache_cpu_percent = 100;
  const std::vector<SequenceLengths> job = {{4, 3}, {2, 3}};
  const Prediction refill = predict(job_cost_inputs(in, {.sequences = job, .refill = true}, 20), p);
  CHECK(refill.prefill_s == Approx(L * 4 * Kt / 1e9).epsilon(1e-5));
  CHECK(refill.decode_s == Approx(L * (5 + 2) * Kt / 1e9).epsilon(1e-5));
  CHECK(refill.bottleneck == "pcie_d2h");
  // On the GPU the cache stays where it is written.
  p.cache_gpu_percent = 100;
  p.cache_cpu_percent = 0;
  CHECK(predict(job_cost_inputs(in, {.sequences = job, .refill = true}, 20), p).decode_s <
        1e-3 * refill.decode_s);
}

TEST_CASE("job cost: refill beats the static schedule on uneven lengths", "[cost_model][job]") {
  // Weights streamed from the CPU: a step costs the same whoever is in it, so the static
  // schedule's idle rows are lost time.
  CostInputs in = inputs("opt-6.7b", test_hardware());
  Policy p = block(32, 2);
  p.weights_gpu_percent = 20;
  p.weights_cpu_percent = 80;
  p.cache_gpu_percent = 0;
  p.cache_cpu_percent = 100;
  const std::vector<SequenceLengths> job = uneven_job(640, 1);
  const Prediction fixed =
      predict(job_cost_inputs(in, {.sequences = job, .refill = false}, 256), p);
  const Prediction refill =
      predict(job_cost_inputs(in, {.sequences = job, .refill = true}, 512), p);
  REQUIRE(fixed.job);
  REQUIRE(refill.job);
  INFO("static " << fixed.total_throughput << " tok/s, idle " << fixed.job->idle_share
                 << "; refill " << refill.total_throughput << " tok/s, idle "
                 << refill.job->idle_share);
  // Refill's idle slot-steps are the drains of blocks whose next request no longer fits.
  CHECK(fixed.job->idle_share > 0.5);
  CHECK(refill.job->idle_share < 0.5 * fixed.job->idle_share);
  CHECK(refill.job->lanes > 500);
  CHECK(refill.total_throughput > 1.5 * fixed.total_throughput);
  CHECK(fixed.job->generated_tokens == refill.job->generated_tokens);
  // More capacity: more cache memory, fewer blocks.
  const Prediction less = predict(job_cost_inputs(in, {.sequences = job, .refill = true}, 256), p);
  CHECK(less.job->prefills > refill.job->prefills);
  CHECK(less.memory.cpu.cache < refill.memory.cpu.cache);
}

TEST_CASE("job cost: the capacities a plan weighs", "[solver][job]") {
  const std::vector<SequenceLengths> job = {{512, 3}, {64, 512}};
  CHECK(job_capacities(job, false, 2048) == std::vector<int64_t>{1024});
  CHECK(job_capacities(job, true, 4096) == std::vector<int64_t>{1024, 1280, 1536, 2048, 3072});
  CHECK(job_capacities(job, true, 2048) == std::vector<int64_t>{1024, 1280, 1536, 2048});
  CHECK(job_capacities(job, true, 1100) == std::vector<int64_t>{1024, 1100});
  CHECK_THROWS_WITH(job_cost_inputs(CostInputs{}, {.sequences = job}, 1000),
                    Catch::Contains("cannot hold the longest prompt (512)"));
  CHECK_THROWS_WITH(job_cost_inputs(CostInputs{}, {}, 1000), Catch::Contains("no sequences"));
}

TEST_CASE("solver: a job's block and capacity", "[solver][job]") {
  CostInputs in = inputs("opt-6.7b", test_hardware());
  SolverOptions options;
  options.caps = {.gpu_bytes = static_cast<uint64_t>(14.5 * kGiB), .cpu_bytes = 60 * kGiB};
  options.gpu_batch_sizes = {8, 32};
  options.max_gpu_batches = 4;
  options.allow_cpu_attention = false;
  const std::vector<SequenceLengths> job = uneven_job(200, 2);
  const std::vector<int64_t> capacities = job_capacities(job, true, 2048);
  const SolvedPolicy refill =
      solve_job_policy(in, {.sequences = job, .refill = true}, capacities, options);
  const SolvedPolicy fixed =
      solve_job_policy(in, {.sequences = job, .refill = false}, {capacities.front()}, options);
  REQUIRE(refill.prediction.job);
  REQUIRE(fixed.prediction.job);
  INFO(solved_policy_summary(refill) << "\n" << solved_policy_summary(fixed));
  CHECK(std::find(capacities.begin(), capacities.end(), refill.prediction.job->capacity) !=
        capacities.end());
  CHECK(refill.policy.block_size() <= 200);
  CHECK(fits(refill.prediction.memory, options.caps));
  CHECK(refill.prediction.total_throughput >= fixed.prediction.total_throughput);
  CHECK(refill.prediction.job->idle_share < fixed.prediction.job->idle_share);
  // The chosen policy predicts, alone, what the solver said.
  const Prediction again = predict(
      job_cost_inputs(in, {.sequences = job, .refill = true}, refill.prediction.job->capacity),
      refill.policy);
  CHECK(again.total_throughput == Approx(refill.prediction.total_throughput).epsilon(1e-9));
  const std::string summary = solved_policy_summary(refill);
  CHECK_THAT(summary, Catch::Contains("refill on") && Catch::Contains("useful tok/s"));
  const std::string yaml = solved_policy_yaml(refill, "");
  CHECK_THAT(yaml, Catch::Contains("# predicted job: ") && Catch::Contains("# job: 200 sequences"));
}

}  // namespace alisa
