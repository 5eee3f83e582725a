// Sparse Window Attention through the offloading schedule: sparsity 0 is the dense path, a budget
// covering every token gives the dense logits, every placement of the cache (the three phases'
// homes: compute device, CPU read in place or attended there, disk) gives the same logits bit
// for bit, and perplexity by teacher forcing matches the one-prefill figure when nothing is left
// out. The cases that compare placements run on every test device (tests/support/
// test_devices.h); on the GPU, CPU attention is held to float16 tolerance, and the GPU's logits
// follow the CPU engine's.
#include <catch2/catch.hpp>

#include <random>

#include "policy/memory_plan.h"
#include "runtime/jobs/perplexity.h"
#include "runtime/model/model_spec.h"
#include "tests/runtime/offload_runs.h"
#include "tests/support/test_devices.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

constexpr int64_t kDecode = kSwaDecodeSteps;
const SwaOptions kSparse = sparse_swa_options();

Policy resident() {
  return policy_with(100, 0, 100, 0, 100, 0);
}

// Every SWA placement, attended on the compute device or on the CPU.
std::vector<PolicyCase> swa_placements() {
  std::vector<PolicyCase> cases = swa_compute_placements();
  for (PolicyCase& c : swa_cpu_attention_placements()) cases.push_back(c);
  return cases;
}

bool same_logits(const Run& a, const Run& b) {
  for (size_t i = 0; i < a.logits.size(); ++i) {
    if (a.logits[i] != b.logits[i]) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("SWA sparsity 0 is the dense path", "[swa][offload][e2e][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  const std::string name = GENERATE(from_range(fixture_model_names()));
  ScratchDir disk;
  const std::filesystem::path model = fixture_path(name);
  const Run dense = run_policy(model, device, resident(), disk.path(), kDecode);
  SwaOptions zero = kSparse;
  zero.sparsity = 0;
  INFO(device_name(device) << ", " << name);
  CHECK(bitwise_equal(run_policy(model, device, resident(), disk.path(), kDecode, zero), dense));
}

TEST_CASE("SWA with a budget over every token gives the dense logits",
          "[swa][offload][e2e][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  const std::string name = GENERATE(from_range(fixture_model_names()));
  // float32 on the CPU; float16 activations on the GPU, where the sparse kernels and the dense
  // ones round differently.
  const double tolerance = device.tolerance(1e-5, 1e-2);
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  const Run dense = run_policy(model, device, resident(), disk.path(), kDecode);
  SwaOptions all = kSparse;
  all.min_tokens = 64;  // n <= B at every step: the sparse kernels attend everything
  const SwaGranularity granularity = GENERATE(SwaGranularity::kLayer, SwaGranularity::kHead);
  all.granularity = granularity;
  const Run swa = run_policy(model, device, resident(), disk.path(), kDecode, all);
  for (size_t step = 0; step < dense.logits.size(); ++step) {
    INFO(device_name(device) << ", " << name << " step " << step);
    CHECK(compare(swa.logits[step].data(), dense.logits[step].data(), dense.logits[step].size(),
                  tolerance, tolerance)
              .ok());
  }
  CHECK(swa.tokens == dense.tokens);
}

TEST_CASE("SWA gives the same logits wherever the cache lies", "[swa][offload][e2e][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  const std::string name = GENERATE(from_range(fixture_model_names()));
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  SwaOptions swa = kSparse;
  swa.granularity = GENERATE(SwaGranularity::kLayer, SwaGranularity::kHead);
  swa.score = GENERATE(SwaScore::kWindow, SwaScore::kDecay);
  const Run reference = run_policy(model, device, resident(), disk.path(), kDecode, swa);
  const Run dense = run_policy(model, device, resident(), disk.path(), kDecode);
  CHECK_FALSE(same_logits(reference, dense));  // tokens were left out
  check_runs_equal(model, device, swa_compute_placements(), reference, disk.path(), kDecode, swa);
  if (!device.gpu()) {
    // CPU attention on a CPU run is the compute device's own attention: bit for bit.
    check_runs_equal(model, device, swa_cpu_attention_placements(), reference, disk.path(), kDecode,
                     swa);
    return;
  }
  // On a GPU run CPU attention computes the weights (and so the score) in float32 from the same
  // float16 cache: close, the same greedy tokens.
  for (const PolicyCase& c : swa_cpu_attention_placements()) {
    const Run cpu = run_policy(model, device, c.policy, disk.path(), kDecode, swa);
    for (size_t step = 0; step < cpu.logits.size(); ++step) {
      INFO(device_name(device) << ", " << name << ", " << c.what << ", step " << step);
      const double tolerance = device.tolerance(0, 2e-2);
      CHECK(compare(cpu.logits[step].data(), reference.logits[step].data(), cpu.logits[step].size(),
                    tolerance, tolerance)
                .ok());
    }
    CHECK(cpu.tokens == reference.tokens);
  }
}

TEST_CASE("SWA on the GPU follows the CPU engine while their tokens agree", "[gpu][swa][e2e]") {
  if (skip_without_gpu()) return;
  const std::string name = GENERATE(from_range(fixture_model_names()));
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  SwaOptions swa = kSparse;
  swa.granularity = GENERATE(SwaGranularity::kLayer, SwaGranularity::kHead);
  const Run gpu = run_policy(model, kGpuF16Device, resident(), disk.path(), kDecode, swa);
  // The CPU engine (float32) selects the same tokens: logits within float16 tolerance for as
  // long as the two feed the same tokens (a near-tie in the greedy choice may part them later;
  // the kernels' own tests compare selections on equal inputs).
  const Run cpu = run_policy(model, kCpuDevice, resident(), disk.path(), kDecode, swa);
  size_t compared = 0;
  for (size_t step = 0; step < cpu.logits.size(); ++step) {
    INFO(name << ", the CPU engine, step " << step);
    CHECK(compare(gpu.logits[step].data(), cpu.logits[step].data(), cpu.logits[step].size(), 5e-2,
                  5e-2)
              .ok());
    ++compared;
    if (cpu.tokens[step] != gpu.tokens[step]) break;
  }
  CHECK(compared >= cpu.logits.size() / 2);
}

TEST_CASE("SWA Phase III (recomputed K and V) gives the logits of Phase I and II",
          "[swa][offload][e2e][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  const std::string name = GENERATE(from_range(fixture_model_names()));
  // The recomputed K and V come from a GEMM over other rows: equal up to rounding (float32 on
  // the CPU, float16 on the GPU).
  const double tolerance = device.tolerance(1e-5, 2e-2);
  const std::filesystem::path model = fixture_path(name);
  ScratchDir disk;
  const ModelSpec spec = load_model_spec(model);
  if (spec.hidden_size > 2 * spec.kv_dim()) {
    // llama3-tiny, mistral-tiny: a hidden state is larger than its K and V, so the runtime
    // refuses to keep it (grouped-query attention 4:1).
    REQUIRE_THROWS_WITH(run_policy(model, device, swa_recompute_placements()[0].policy, disk.path(),
                                   kDecode, kSparse),
                        Catch::Matchers::Contains("cache_recompute_percent"));
    return;
  }
  const Run reference = run_policy(model, device, resident(), disk.path(), kDecode, kSparse);
  for (const PolicyCase& c : swa_recompute_placements()) {
    const Run recomputed = run_policy(model, device, c.policy, disk.path(), kDecode, kSparse);
    for (size_t step = 0; step < reference.logits.size(); ++step) {
      INFO(device_name(device) << ", " << name << ", " << c.what << ", step " << step);
      CHECK(compare(recomputed.logits[step].data(), reference.logits[step].data(),
                    reference.logits[step].size(), tolerance, tolerance)
                .ok());
    }
    CHECK(recomputed.tokens == reference.tokens);
  }
}

TEST_CASE("SWA Phase III is refused where it cannot run, naming the key", "[swa][offload]") {
  using Catch::Matchers::Contains;
  ScratchDir disk;
  Policy policy = policy_with(100, 0, 0, 100, 100, 0);
  policy.cache_recompute_percent = 50;
  const std::filesystem::path model = fixture_path("opt-tiny");
  CHECK_THROWS_WITH(run_policy(model, kCpuDevice, policy, disk.path(), kDecode),
                    Contains("cache_recompute_percent") && Contains("sparse window attention"));
  policy.cpu_attention = true;
  CHECK_THROWS_WITH(run_policy(model, kCpuDevice, policy, disk.path(), kDecode, kSparse),
                    Contains("cache_recompute_percent") && Contains("cpu_attention"));
}

TEST_CASE("cache_recompute_percent: auto keeps hidden states only when the cap needs it",
          "[swa][offload][e2e]") {
  using Catch::Matchers::Contains;
  const std::filesystem::path model = fixture_path("opt-tiny");
  ScratchDir disk;
  Policy policy = policy_with(100, 0, 0, 100, 100, 0);
  // The CPU tier's plan for this workload (7-token prompts, 17 decoded), float32 on the CPU: the
  // cache alone, as the weights stay on the compute device.
  const Workload workload{.prompt_len = 7, .gen_len = kDecode + 1};
  auto cpu_bytes = [&](double recompute) {
    Policy p = policy;
    p.cache_recompute_percent = recompute;
    return plan_memory(model_footprint(load_model_spec(model)), workload, p).cpu.total() * 2;
  };
  REQUIRE(cpu_bytes(50) < cpu_bytes(0));
  const uint64_t tight = (cpu_bytes(50) + cpu_bytes(0)) / 2;
  auto run_with_cap = [&](const Policy& p, uint64_t cap) {
    Engine engine({.model = model.string(),
                   .backend = {.device = DeviceChoice::kCpu,
                               .n_threads = 2,
                               .cpu_memory_limit = cap,
                               .gpu_memory_limit = uint64_t{1} << 30},
                   .policy = p,
                   .offload_dir = disk.path(),
                   .swa = kSparse});
    return engine.make_block_runner(policy.block_size(), 7 + kDecode + 1, 7, false)
        ->kept_positions();
  };
  // Without Phase III the tight cap is refused; auto finds the share that fits.
  CHECK_THROWS_WITH(run_with_cap(policy, tight), Contains("cpu_memory_limit"));
  Policy automatic = policy;
  automatic.cache_recompute_auto = true;
  const int64_t kept = run_with_cap(automatic, tight);
  CHECK(kept > 0);
  CHECK(kept <= 7);
  CHECK(run_with_cap(automatic, 0) == 0);  // no cap: nothing to save
  // With room to spare, auto is Phase II: bitwise the run without recomputation.
  CHECK(bitwise_equal(run_policy(model, kCpuDevice, automatic, disk.path(), kDecode, kSparse),
                      run_policy(model, kCpuDevice, policy, disk.path(), kDecode, kSparse)));
}

TEST_CASE("generate with Phase III pads every block's prompt step over the kept positions",
          "[swa][offload][e2e]") {
  // Blocks of two: prompts of 12 and 11 tokens, then 4 and 3; the kept positions come from the
  // longest prompt, so the second block's prompt step is padded to cover them.
  const std::vector<std::vector<int32_t>> texts = {{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
                                                   {30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40},
                                                   {50, 51, 52, 53},
                                                   {70, 71, 72}};
  std::vector<Prompt> prompts;
  for (size_t i = 0; i < texts.size(); ++i) prompts.push_back({texts[i], i});
  auto generate = [&](double recompute) {
    Policy policy = policy_with(100, 0, 0, 100, 100, 0);
    policy.gpu_batch_size = 1;
    policy.num_gpu_batches = 2;
    policy.cache_recompute_percent = recompute;
    Engine engine({.model = fixture_path("llama-tiny").string(),
                   .backend = {.device = DeviceChoice::kCpu, .n_threads = 2},
                   .policy = policy,
                   .swa = kSparse});
    GenerationOptions options;
    options.max_new_tokens = 8;
    options.stop_at_eos = false;
    return engine.generate(prompts, options);
  };
  CHECK(generate(50) == generate(0));
}

TEST_CASE("SWA over an int8 cache gives the same logits wherever the cache lies",
          "[swa][offload][e2e]") {
  const std::filesystem::path model = fixture_path("opt-tiny");
  ScratchDir disk;
  std::vector<PolicyCase> cases = swa_placements();
  for (PolicyCase& c : cases) c.policy.compress_cache = true;
  Policy int8 = resident();
  int8.compress_cache = true;
  const Run reference = run_policy(model, kCpuDevice, int8, disk.path(), kDecode, kSparse);
  check_runs_equal(model, kCpuDevice, cases, reference, disk.path(), kDecode, kSparse);
}

TEST_CASE("the score modes and granularities select differently", "[swa][offload][e2e]") {
  const std::filesystem::path model = fixture_path("opt-tiny");
  ScratchDir disk;
  std::vector<Run> runs;
  for (const SwaScore score :
       {SwaScore::kWindow, SwaScore::kDecay, SwaScore::kHistory, SwaScore::kRecent}) {
    SwaOptions swa = kSparse;
    swa.score = score;
    runs.push_back(run_policy(model, kCpuDevice, resident(), disk.path(), kDecode, swa));
  }
  SwaOptions head = kSparse;
  head.granularity = SwaGranularity::kHead;
  runs.push_back(run_policy(model, kCpuDevice, resident(), disk.path(), kDecode, head));
  for (size_t a = 0; a < runs.size(); ++a) {
    for (size_t b = a + 1; b < runs.size(); ++b) {
      INFO("runs " << a << " and " << b);
      CHECK_FALSE(same_logits(runs[a], runs[b]));
    }
  }
}

TEST_CASE("SWA perplexity by teacher forcing equals the dense figure when nothing is left out",
          "[swa][perplexity][e2e]") {
  std::mt19937 rng(5);
  std::vector<int32_t> ids(150);
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % 512);
  auto perplexity = [&](const SwaOptions& swa) {
    Engine engine({.model = fixture_path("opt-tiny").string(),
                   .backend = {.device = DeviceChoice::kCpu, .n_threads = 2},
                   .swa = swa});
    return compute_perplexity(engine, ids, {.context_length = 64});
  };
  const PerplexityResult dense = perplexity({});
  SwaOptions all = kSparse;
  all.min_tokens = 64;
  const PerplexityResult forced = perplexity(all);
  CHECK(forced.n_tokens == dense.n_tokens);
  CHECK(forced.perplexity == Approx(dense.perplexity).epsilon(1e-5));
  const PerplexityResult sparse = perplexity(kSparse);
  CHECK(std::isfinite(sparse.perplexity));
  CHECK(sparse.perplexity != dense.perplexity);
}

TEST_CASE("bad SWA options are refused naming the option", "[swa]") {
  using Catch::Matchers::Contains;
  auto engine_with = [](const SwaOptions& swa) {
    Engine engine({.model = fixture_path("opt-tiny").string(),
                   .backend = {.device = DeviceChoice::kCpu, .n_threads = 1},
                   .swa = swa});
  };
  CHECK_THROWS_WITH(engine_with({.sparsity = 1.0}), Contains("sparsity"));
  CHECK_THROWS_WITH(engine_with({.sparsity = 0.5, .window_max = 0}), Contains("window_max"));
  CHECK_THROWS_WITH(engine_with({.sparsity = 0.5, .min_tokens = 0}), Contains("min_tokens"));
  CHECK_THROWS_WITH(engine_with({.sparsity = 0.5, .gamma = 1.5}), Contains("gamma"));
}

}  // namespace alisa::test
