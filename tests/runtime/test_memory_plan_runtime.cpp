// The memory plan against the runtime: for every benchmark policy of configs/policies, run on
// the fixture models on the CPU, the plan's bytes per tier are exactly what the runtime's devices
// held at their peak (weights, cache, activations and every buffer of the block schedule).
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "runtime/jobs/engine.h"
#include "runtime/schedule/block_memory.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

struct Measured {
  uint64_t compute = 0, cpu = 0;
};

// Peak bytes of the compute device and the CPU tier over the engine's life: weights, then a
// block's runner (with refill lanes or not), its prompt step and two decode steps.
Measured run_block(const std::filesystem::path& model, const Policy& policy, const SwaOptions& swa,
                   int64_t prompt, int64_t capacity, bool refill,
                   const std::filesystem::path& offload_dir) {
  Engine engine({.model = model.string(),
                 .backend = {.device = DeviceChoice::kCpu, .n_threads = 2},
                 .policy = policy,
                 .offload_dir = offload_dir,
                 .swa = swa});
  const int64_t block = policy.block_size();
  std::unique_ptr<BlockRunner> runner = engine.make_block_runner(block, capacity, prompt, refill);
  std::vector<int32_t> ids(static_cast<size_t>(block * prompt), 3);
  const std::vector<uint8_t> mask(ids.size(), 1);
  runner->step(ids, mask, prompt);
  const std::vector<int32_t> next(static_cast<size_t>(block), 5);
  const std::vector<uint8_t> ones(static_cast<size_t>(block), 1);
  for (int t = 0; t < 2; ++t) runner->step(next, ones, 1);
  return {.compute = engine.device().peak_bytes(), .cpu = engine.cpu_tier().peak_bytes()};
}

}  // namespace

TEST_CASE("the memory plan is what the runtime allocates, tier by tier", "[offload][memory]") {
  const std::string name = GENERATE(from_range(fixture_model_names()));
  const std::filesystem::path model = fixture_path(name);
  const std::filesystem::path policies = repo_dir() / "configs/policies";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(policies)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 10);
  ScratchDir disk;
  const ModelSpec spec = load_model_spec(model);
  const int64_t prompt = 12, capacity = 16;
  for (const std::filesystem::path& file : files) {
    const Policy policy = load_policy(file);
    const std::string stem = file.stem().string();
    // The SWA benchmarks run with sparsity 0.8 (Phase III with the recompute policy).
    SwaOptions swa;
    if (stem.find("swa") != std::string::npos) swa.sparsity = 0.8;
    // Phase III keeps a hidden state only where it is smaller than its K and V (not GQA 4:1).
    if (policy.cache_recompute_percent > 0 && spec.hidden_size > 2 * spec.kv_dim()) continue;
    // Refill lanes (continuous batching) with the schedule where the policy serves them.
    for (const bool refill : {false, true}) {
      INFO(name << ", " << stem << (refill ? ", with refill lanes" : ""));
      const Measured measured =
          run_block(model, policy, swa, prompt, capacity, refill, disk.path());
      const MemoryPlan plan =
          block_memory_plan(spec, swa, policy, capacity, prompt, DType::kF32, refill);
      // Exact on the CPU, where no kernel takes memory of its own (on the GPU, cuBLAS's and
      // split-K attention's workspace come on top).
      CHECK(plan.gpu.total() == measured.compute);
      CHECK(plan.cpu.total() == measured.cpu);
    }
  }
}

}  // namespace alisa::test
