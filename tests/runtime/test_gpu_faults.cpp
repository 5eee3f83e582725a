// A CUDA out-of-memory in the middle of a GPU run (kernels_gpu/cuda_faults.h): the run ends in
// alisa's one-line error, the GPU memory it held comes back, and the next run in the same process
// gives the uninterrupted tokens. docs/RELIABILITY.md lists it with the disk tier's faults.
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <vector>

#include "runtime/jobs/engine.h"
#include "tests/runtime/offload_runs.h"
#include "tests/support/test_devices.h"
#include "tests/test_support.h"

#if defined(ALISA_HAVE_CUDA)
#include <cuda_runtime_api.h>

#include "kernels_gpu/cuda_faults.h"
#endif

namespace alisa::test {
namespace {

using Catch::Matchers::Contains;

#if defined(ALISA_HAVE_CUDA)
size_t gpu_free_bytes() {
  size_t free_bytes = 0, total_bytes = 0;
  REQUIRE(cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess);
  return free_bytes;
}
#endif

}  // namespace

TEST_CASE("a CUDA out-of-memory mid-run ends in one clear error and gives the GPU memory back",
          "[gpu][faults]") {
  if (skip_without_gpu()) return;
#if defined(ALISA_HAVE_CUDA)
  ScratchDir disk;
  // Weights and cache on the CPU: every step copies over PCIe on the copy streams while the
  // compute stream works, the schedule a real job runs.
  const EngineOptions options{.model = fixture_path("llama-tiny").string(),
                              .backend = kGpuF16Device.backend(2),
                              .policy = policy_with(0, 100, 0, 100, 100, 0),
                              .offload_dir = disk.path()};
  const std::vector<Prompt> prompts = {{.token_ids = {5, 6, 7}, .index = 0},
                                       {.token_ids = {8, 9}, .index = 1},
                                       {.token_ids = {10, 11, 12, 13}, .index = 2}};
  GenerationOptions generation;
  generation.max_new_tokens = 6;
  generation.batch_size = 3;
  generation.stop_at_eos = false;

  const size_t free_before = gpu_free_bytes();
  // An unarmed scope counts the checked CUDA calls: those of the engine's start, then the run's.
  std::vector<std::vector<int32_t>> reference;
  int64_t start_checks = 0, all_checks = 0;
  {
    const ScopedCudaOutOfMemory count(std::numeric_limits<int64_t>::max());
    Engine engine(options);
    start_checks = count.checks();
    reference = engine.generate(prompts, generation);
    all_checks = count.checks();
    CHECK_FALSE(count.hit());
  }
  INFO(start_checks << " checked CUDA calls at the engine's start, " << all_checks << " in all");
  REQUIRE(all_checks - start_checks > 100);

  // Early, half-way and late in the run.
  for (const int64_t at : {start_checks + (all_checks - start_checks) / 10,
                           start_checks + (all_checks - start_checks) / 2,
                           all_checks - (all_checks - start_checks) / 10}) {
    INFO("the fault at checked call " << at);
    const ScopedCudaOutOfMemory fault(at);
    {
      Engine engine(options);
      CHECK_THROWS_WITH(engine.generate(prompts, generation),
                        Contains("out of GPU memory") && Contains("--gpu-memory-limit"));
    }
    CHECK(fault.hit());
  }

  // Nothing held: the memory is back (within what CUDA's context may keep for itself) and the
  // same run gives the uninterrupted tokens.
  constexpr size_t kSlack = size_t{64} << 20;
  CHECK(gpu_free_bytes() + kSlack >= free_before);
  Engine engine(options);
  CHECK(engine.generate(prompts, generation) == reference);
#endif
}

}  // namespace alisa::test
