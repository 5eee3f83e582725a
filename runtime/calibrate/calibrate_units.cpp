#include "runtime/calibrate/calibrate_units.h"

#include <vector>

#include "runtime/calibrate/calibrate_timing.h"
#include "runtime/jobs/bench.h"
#include "runtime/jobs/engine.h"

namespace alisa {
namespace {

constexpr const char* kModel = "dummy:opt-125m";
constexpr int64_t kGpuBatches = 32;

// Microseconds a unit of the block runner takes under `policy` (its batch shape set here).
double unit_us(Policy policy, DeviceChoice device, const std::filesystem::path& offload_dir,
               int threads) {
  policy.gpu_batch_size = 1;
  policy.num_gpu_batches = kGpuBatches;
  EngineOptions options;
  options.model = kModel;
  options.backend.device = device;
  options.backend.n_threads = threads;
  options.policy = policy;
  options.offload_dir = offload_dir;
  Engine engine(options);
  const BenchWorkload workload{.prompt_len = 16, .gen_len = 17, .batch_size = kGpuBatches};
  const double units = static_cast<double>(engine.spec().n_layers * kGpuBatches);
  std::vector<double> runs;
  for (int run = 0; run < 3; ++run) {
    runs.push_back(run_bench(engine, workload).decode_step_ms * 1e3 / units);
  }
  return median(runs);
}

}  // namespace

UnitCosts measure_unit_costs(DeviceChoice device, const std::filesystem::path& offload_dir,
                             int threads) {
  Policy on_gpu;  // every percentage on the GPU
  Policy cpu_attention = on_gpu;
  cpu_attention.cache_gpu_percent = 0;
  cpu_attention.cache_cpu_percent = 100;
  cpu_attention.cpu_attention = true;
  Policy cache_load = cpu_attention;
  cache_load.cpu_attention = false;
  Policy hidden_load = on_gpu;
  hidden_load.activations_gpu_percent = 0;
  hidden_load.activations_cpu_percent = 100;
  return {.gpu_us = unit_us(on_gpu, device, offload_dir, threads),
          .cpu_attention_us = unit_us(cpu_attention, device, offload_dir, threads),
          .cache_load_us = unit_us(cache_load, device, offload_dir, threads),
          .hidden_load_us = unit_us(hidden_load, device, offload_dir, threads)};
}

}  // namespace alisa
