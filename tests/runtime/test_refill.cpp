// Continuous batching (Generator::run_stream with refill): a finished sequence's row takes the
// next request inside the schedule. Greedy outputs must be those of the static schedule, request
// by request, wherever the cache lies and however it is attended.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "policy/job_schedule.h"
#include "runtime/jobs/generator.h"
#include "tests/runtime/offload_runs.h"
#include "tests/support/test_devices.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

constexpr int64_t kMaxPrompt = 7;
constexpr int64_t kMaxNew = 9;
// Room past the first block's longest sequence, so that rows take prompts for a while.
constexpr int64_t kCapacity = 3 * (kMaxPrompt + kMaxNew);

// 20 greedy requests: prompts of 2..7 tokens, budgets of 1..9 tokens, EOS ignored (so lengths
// spread as a real job's do).
std::vector<Request> uneven_requests(int64_t vocab) {
  std::mt19937 rng(5);
  std::vector<Request> requests(20);
  for (size_t i = 0; i < requests.size(); ++i) {
    Request& r = requests[i];
    r.token_ids.resize(2 + rng() % (kMaxPrompt - 1));
    for (int32_t& id : r.token_ids) id = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
    r.max_new_tokens = 1 + static_cast<int64_t>(rng() % kMaxNew);
    r.stop_at_eos = false;
    r.key = i;
  }
  return requests;
}

struct StreamRun {
  std::map<uint64_t, std::vector<int32_t>> tokens;  // by request key
  StreamStats stats;
};

StreamRun run_stream(const std::filesystem::path& model, const TestDevice& device,
                     const Policy& policy, const std::filesystem::path& offload_dir,
                     const SwaOptions& swa, bool refill) {
  Engine engine({.model = model.string(),
                 .backend = device.backend(2),
                 .policy = policy,
                 .offload_dir = offload_dir,
                 .swa = swa});
  const std::vector<Request> requests = uneven_requests(engine.spec().vocab_size);
  Generator generator(engine, policy.block_size(), kMaxPrompt, kMaxNew, kCapacity, refill);
  size_t next = 0;
  StreamRun run;
  const StreamHooks hooks{
      .stop = {},
      .finished = [&](const Request& r, Completion&& c) { run.tokens[r.key] = c.tokens; },
      .step = {}};
  REQUIRE(generator.run_stream(
      [&]() -> const Request* { return next < requests.size() ? &requests[next++] : nullptr; },
      hooks, run.stats));
  REQUIRE(run.tokens.size() == requests.size());
  for (const Request& r : requests) {
    CHECK(static_cast<int64_t>(run.tokens[r.key].size()) == r.max_new_tokens);
  }
  return run;
}

// Refill against the static schedule under each policy: the same tokens for every request, rows
// actually refilled, fewer idle slot-steps.
void check_refill(const std::filesystem::path& model, const TestDevice& device,
                  std::span<const PolicyCase> cases, const SwaOptions& swa = {}) {
  ScratchDir disk;
  for (const PolicyCase& c : cases) {
    INFO(device_name(device) << ", " << model.filename().string() << ", " << c.what);
    const StreamRun fixed = run_stream(model, device, c.policy, disk.path(), swa, false);
    const StreamRun refilled = run_stream(model, device, c.policy, disk.path(), swa, true);
    CHECK_FALSE(fixed.stats.refill);
    CHECK(fixed.stats.refills == 0);
    REQUIRE(refilled.stats.refill);
    CHECK(refilled.stats.refills > 0);
    CHECK(refilled.stats.idle_share() < fixed.stats.idle_share());
    CHECK(refilled.stats.blocks < fixed.stats.blocks);
    CHECK(refilled.tokens == fixed.tokens);
    if (c.policy.cache_recompute_percent == 0) {
      // The cost model's simulation of the schedule (policy/job_schedule.h) is the engine's.
      for (const StreamRun* run : {&fixed, &refilled}) {
        std::vector<SequenceLengths> job;
        for (const Request& r : uneven_requests(2)) {
          job.push_back({.prompt_len = static_cast<int64_t>(r.token_ids.size()),
                         .gen_len = r.max_new_tokens});
        }
        const JobSchedule model = simulate_job(job, {.rows = c.policy.block_size(),
                                                     .capacity = kCapacity,
                                                     .kept = 0,
                                                     .refill = run->stats.refill});
        CHECK(model.prefills == run->stats.blocks);
        CHECK(model.decode_steps == run->stats.decode_steps);
        CHECK(model.idle_slot_steps == run->stats.idle_slot_steps);
        CHECK(model.lanes == run->stats.refills);
        CHECK(model.generated_tokens == run->stats.generated_tokens);
      }
    }
  }
}

std::vector<PolicyCase> dense_cases() {
  std::vector<PolicyCase> cases = {{"all resident", policy_with(100, 0, 100, 0, 100, 0)}};
  for (const std::vector<PolicyCase>& more :
       {data_moving_policies(), cpu_attention_policies(), compressed_cache_policies()}) {
    cases.insert(cases.end(), more.begin(), more.end());
  }
  return cases;
}

}  // namespace

TEST_CASE("refill gives the static schedule's tokens wherever the cache lies",
          "[refill][offload][e2e]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny", "qwen3-tiny");
  check_refill(fixture_path(name), kCpuDevice, dense_cases());
}

TEST_CASE("refill gives the static schedule's tokens under SWA, its phases and CPU attention",
          "[refill][swa][offload][e2e]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny");
  const SwaOptions swa = sparse_swa_options();
  std::vector<PolicyCase> cases = {{"all resident", policy_with(100, 0, 100, 0, 100, 0)}};
  for (const std::vector<PolicyCase>& more :
       {swa_compute_placements(), swa_cpu_attention_placements(), swa_recompute_placements()}) {
    cases.insert(cases.end(), more.begin(), more.end());
  }
  check_refill(fixture_path(name), kCpuDevice, cases, swa);
}

TEST_CASE("refill on the GPU follows the static schedule", "[refill][gpu][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  if (!device.gpu()) return;
  const std::filesystem::path model = fixture_path("llama-tiny");
  ScratchDir disk;
  const std::vector<PolicyCase> cases = {
      {"all resident", policy_with(100, 0, 100, 0, 100, 0)},
      {"cache on the CPU", policy_with(100, 0, 0, 100, 100, 0)},
      {"cache on disk", policy_with(100, 0, 0, 0, 100, 0)},
      {"CPU attention", cpu_attention_policies().front().policy}};
  for (const PolicyCase& c : cases) {
    INFO(device_name(device) << ", " << c.what);
    const StreamRun fixed = run_stream(model, device, c.policy, disk.path(), {}, false);
    const StreamRun refilled = run_stream(model, device, c.policy, disk.path(), {}, true);
    CHECK(refilled.stats.refills > 0);
    // Half-precision sums differ with the batch's shape: nearly every token agrees.
    int64_t same = 0, total = 0;
    for (const auto& [key, tokens] : fixed.tokens) {
      const std::vector<int32_t>& other = refilled.tokens.at(key);
      for (size_t i = 0; i < tokens.size(); ++i) same += tokens[i] == other[i] ? 1 : 0;
      total += static_cast<int64_t>(tokens.size());
    }
    CHECK(same >= total * 9 / 10);
  }
}

TEST_CASE("refill refuses an int8 cache attended on the CPU and runs the static schedule",
          "[refill][offload]") {
  Policy policy = policy_with(100, 0, 0, 100, 100, 0);
  policy.cpu_attention = true;
  policy.compress_cache = true;
  ScratchDir disk;
  const StreamRun run =
      run_stream(fixture_path("opt-tiny"), kCpuDevice, policy, disk.path(), {}, true);
  CHECK_FALSE(run.stats.refill);
  CHECK(run.stats.refills == 0);
}

}  // namespace alisa::test
