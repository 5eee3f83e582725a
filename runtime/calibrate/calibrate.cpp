#include "runtime/calibrate/calibrate.h"

#include <atomic>

#include "runtime/base/common.h"
#include "runtime/calibrate/calibrate_cpu.h"
#include "runtime/calibrate/calibrate_disk.h"
#include "runtime/calibrate/calibrate_host.h"
#include "runtime/calibrate/calibrate_shapes.h"
#include "runtime/calibrate/calibrate_units.h"
#include "runtime/jobs/engine.h"
#include "runtime/tiers/disk_file.h"
#if ALISA_HAVE_CUDA
#include "runtime/calibrate/calibrate_gpu.h"
#include "runtime/calibrate/calibrate_links_gpu.h"
#include "runtime/calibrate/calibrate_pinned_tier_gpu.h"
#include "runtime/core/gpu_device.h"
#endif

namespace alisa {

std::string calibration_gpu_problem() {
#if ALISA_HAVE_CUDA
  if (gpu_device_count() > 0) return "";
  return "alisa calibrate needs a CUDA GPU: no CUDA device is present";
#else
  return "alisa calibrate needs a CUDA GPU: this alisa was built without CUDA (nvcc was not found)";
#endif
}

HardwareProfile calibrate(const CalibrateOptions& options) {
  const std::vector<std::string>& models =
      options.models.empty() ? default_calibration_models() : options.models;
  std::vector<GemmShape> shapes;
  try {
    shapes = calibration_gemm_shapes(models);
  } catch (const Error& e) {
    throw Error(str("--models: ", e.what()));
  }
  const std::string problem = calibration_gpu_problem();
  ALISA_CHECK(problem.empty(), problem);
  auto progress = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };

  HardwareProfile p;
  p.name = options.name;
  p.measured = today_text();
  p.cpu = cpu_model_name();
  p.cpu_memory_bytes = physical_memory_bytes();
  p.cpu_cores = online_cores();
  const std::filesystem::path disk_dir =
      options.disk_dir.empty() ? default_offload_dir() : options.disk_dir;
  const int threads = options.threads > 0 ? options.threads : static_cast<int>(p.cpu_cores);
  prepare_disk_dir(disk_dir);  // before the GPU's minute, not after it

#if ALISA_HAVE_CUDA
  measure_gpu(GpuCalibrationSizes{}, shapes, p, progress);
  progress("block runner: the fixed cost of a unit, OPT-125M at 32 GPU batches of 1");
  p.unit = measure_unit_costs(DeviceChoice::kGpu, disk_dir, threads);
#endif

  progress(str("CPU memory: ", threads, " threads reading 2 GiB"));
  p.cpu_memory_gbps = measure_cpu_memory_gbps(size_t{2} << 30, threads);
  const std::vector<int64_t> thread_counts = calibration_thread_counts(threads);
  const CpuAttentionShape attention;
  progress(str("CPU attention: float16 KV, ", attention.batch, " sequences x ", attention.n_tokens,
               " tokens in pinned memory, ", thread_counts.size(), " thread counts up to ",
               threads));
  {
#if ALISA_HAVE_CUDA
    PinnedCpuTier tier;  // the runtime's CPU tier on a GPU run, its caches written by the GPU
    const CpuTierMemory memory = tier.memory();
#else
    const CpuTierMemory memory;  // unreachable: calibration needs a GPU
#endif
    p.cpu_attention = measure_cpu_attention(attention, thread_counts, memory);
#if ALISA_HAVE_CUDA
    progress(str("pinned H2D while the CPU attends on ", threads, " threads"));
    // The load attends without idle gaps, for long runs (a second or so of dense attention
    // after its setup), and the copies start once its setup is done: the load's allocations
    // and fills, not its attention, were what the copies met before.
    CpuAttentionShape load = attention;
    load.idle_us = 0;
    load.repeats = 100;
    p.h2d_pinned_cpu_busy_gbps = measure_h2d_pinned_under_load(
        size_t{1} << 30,
        [&](const std::atomic<bool>& stop) {
          while (!stop) (void)measure_cpu_attention(load, {threads}, memory);
        },
        0.5);
    // The mirror: CPU attention at the most threads while the weights' copies stream up, as a
    // share of its rate alone (the table's last entry, measured just before).
    progress(str("CPU attention on ", threads, " threads while pinned H2D copies run"));
    CpuAttentionRate busy;
    const double h2d_gbps = pinned_h2d_during(
        size_t{256} << 20,
        [&] { busy = measure_cpu_attention(attention, {threads}, memory).front(); }, 0.2);
    const CpuAttentionRate& alone = p.cpu_attention.back();
    p.cpu_attention_h2d_busy = {.dense = busy.dense_gbps / alone.dense_gbps,
                                .sparse = busy.sparse_gbps / alone.sparse_gbps};
    progress(str("  kept ", p.cpu_attention_h2d_busy.dense, " (dense), ",
                 p.cpu_attention_h2d_busy.sparse, " (sparse) of its rate; the copies ran at ",
                 h2d_gbps, " GB/s"));
#endif
  }

  progress(str("disk: writing and reading 2 GiB in ", disk_dir.string()));
  // Reads as the block runner loads a unit's cache from disk: a request of a few MiB at a time
  // (its weight reads, on the I/O pool, share the disk with them); writes in large requests
  // on the pool, as the prompt's cache is stored.
  const DiskRates disk =
      measure_disk(disk_dir, uint64_t{2} << 30, size_t{64} << 20, size_t{4} << 20);
  if (!disk.direct) {
    progress(str("warning: ", disk_dir.string(),
                 " refused O_DIRECT; buffered I/O was timed, so the page cache may inflate the "
                 "disk rates"));
  }
  p.disk_read_gbps = disk.read_gbps;
  p.disk_write_gbps = disk.write_gbps;
  p.disk_read_latency_us = disk.read_latency_us;
  p.disk_write_latency_us = disk.write_latency_us;
  p.disk_bytes = free_disk_bytes(disk_dir);

  validate(p, "calibration");
  return p;
}

}  // namespace alisa
