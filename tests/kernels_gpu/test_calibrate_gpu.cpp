// The GPU measurements of `alisa calibrate` on small sizes: every rate positive, finite and within
// what any GPU host can do (no ordering between them is guaranteed, e.g. pinned over pageable).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "policy/hardware.h"
#include "runtime/base/common.h"
#include "runtime/calibrate/calibrate_gpu.h"
#include "runtime/calibrate/calibrate_links_gpu.h"
#include "runtime/calibrate/calibrate_units.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

bool plausible_gbps(double gbps) {
  return std::isfinite(gbps) && gbps > 0 && gbps < 10000;
}

}  // namespace

TEST_CASE("gpu calibration copies, mapped access, memory and launches", "[gpu][calibrate]") {
  constexpr size_t kMiB = size_t{1} << 20;
  for (const bool pinned : {true, false}) {
    const CopyRates rates = measure_copy_rates(16 * kMiB, pinned);
    INFO((pinned ? "pinned" : "pageable")
         << ": H2D " << rates.h2d.alone_gbps << " (duplex " << rates.h2d.duplex_gbps << "), D2H "
         << rates.d2h.alone_gbps << " (duplex " << rates.d2h.duplex_gbps << ") GB/s");
    CHECK(plausible_gbps(rates.h2d.alone_gbps));
    CHECK(plausible_gbps(rates.h2d.duplex_gbps));
    CHECK(plausible_gbps(rates.d2h.alone_gbps));
    CHECK(plausible_gbps(rates.d2h.duplex_gbps));
  }
  // Copies under a load that stops when told: the load runs throughout and is joined.
  std::atomic<int> rounds{0};
  const double busy = measure_h2d_pinned_under_load(
      16 * kMiB,
      [&](const std::atomic<bool>& stop) {
        while (!stop) ++rounds;
      },
      0.01);
  INFO("pinned H2D under load " << busy << " GB/s");
  CHECK(plausible_gbps(busy));
  CHECK(rounds.load() > 0);
  // And the mirror: copies while the work runs, which is waited for and whose errors come back.
  int work_runs = 0;
  const double during = pinned_h2d_during(
      16 * kMiB,
      [&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ++work_runs;
      },
      0.01);
  INFO("pinned H2D during the work " << during << " GB/s");
  CHECK(plausible_gbps(during));
  CHECK(work_runs == 1);
  CHECK_THROWS_WITH(pinned_h2d_during(
                        kMiB, [] { throw Error("the work failed"); }, 0),
                    "the work failed");
  const MappedRates mapped = measure_mapped_rates(16 * kMiB + 8);  // not whole vectors: trimmed
  INFO("mapped read " << mapped.read_gbps << ", write " << mapped.write_gbps << " GB/s");
  CHECK(plausible_gbps(mapped.read_gbps));
  CHECK(plausible_gbps(mapped.write_gbps));
  const double memory = measure_gpu_memory_gbps(64 * kMiB);
  INFO("device memory " << memory << " GB/s");
  CHECK(plausible_gbps(memory));
  const double launch_us = measure_launch_us(100);
  INFO("launch " << launch_us << " us");
  CHECK(std::isfinite(launch_us));
  CHECK(launch_us > 0);
  CHECK(launch_us < 1000);
}

TEST_CASE("gpu calibration GEMMs cover every shape and token count", "[gpu][calibrate]") {
  const std::vector<GemmShape> shapes = {{256, 512}, {512, 256}, {1000, 64}};
  const std::vector<int64_t> ms = {1, 7, 64};
  const std::vector<GemmRate> rates = measure_gemm_rates(shapes, ms);
  REQUIRE(rates.size() == shapes.size() * ms.size());
  for (size_t i = 0; i < rates.size(); ++i) {
    const GemmRate& r = rates[i];
    INFO("m " << r.m << " n " << r.n << " k " << r.k << ": " << r.tflops << " TFLOP/s");
    CHECK(r.m == ms[i % ms.size()]);
    CHECK(r.n == shapes[i / ms.size()].n);
    CHECK(r.k == shapes[i / ms.size()].k);
    CHECK(std::isfinite(r.tflops));
    CHECK(r.tflops > 0);
    CHECK(r.tflops < 5000);
  }
}

TEST_CASE("gpu calibration decode attention at every batch size", "[gpu][calibrate]") {
  // Small heads and cache: SWA's budget at 0.8 of 64 tokens is 16 (min_tokens), 8 of them local.
  const GpuAttentionShape shape{
      .n_heads = 8, .n_kv_heads = 4, .head_dim = 64, .capacity = 64, .swa_sparsity = 0.8};
  const std::vector<int64_t> batches = {1, 3, 16};
  const std::vector<GpuAttentionRate> rates = measure_gpu_attention(shape, batches);
  REQUIRE(rates.size() == batches.size());
  for (size_t i = 0; i < rates.size(); ++i) {
    const GpuAttentionRate& r = rates[i];
    INFO("batch " << r.batch << ": dense " << r.dense_gbps << ", sparse " << r.sparse_gbps
                  << ", mapped sparse " << r.mapped_sparse_gbps << " GB/s");
    CHECK(r.batch == batches[i]);
    CHECK(plausible_gbps(r.dense_gbps));
    CHECK(plausible_gbps(r.sparse_gbps));
    CHECK(plausible_gbps(r.mapped_sparse_gbps));
  }
  CHECK_THROWS_WITH(measure_gpu_attention(shape, {4, 2}), Catch::Contains("ascending"));
  CHECK_THROWS_WITH(measure_gpu_attention(shape, {}), Catch::Contains("ascending"));
}

TEST_CASE("gpu calibration fills a profile that validates", "[gpu][calibrate]") {
  GpuCalibrationSizes sizes;
  sizes.pinned_bytes = sizes.pageable_bytes = sizes.mapped_bytes = size_t{4} << 20;
  sizes.device_copy_bytes = size_t{16} << 20;
  sizes.launches = 20;
  sizes.gemm_m = {1, 16};
  sizes.gpu_attention_batches = {1, 2};
  HardwareProfile p;
  std::vector<std::string> lines;
  measure_gpu(sizes, {{512, 512}}, p, [&](const std::string& line) { lines.push_back(line); });
  CHECK(lines.size() == 7);
  CHECK_FALSE(p.gpu.empty());
  CHECK(p.gpu_memory_bytes > 0);
  REQUIRE(p.gemm.size() == 2);
  REQUIRE(p.gpu_attention.size() == 2);
  CHECK(p.gpu_attention[0].batch == 1);
  CHECK(p.gpu_attention[1].batch == 2);
  // The CPU side's fields, so that validate sees a whole profile.
  p.cpu_memory_bytes = p.disk_bytes = uint64_t{1} << 30;
  p.cpu_cores = 1;
  p.disk_read_gbps = p.disk_write_gbps = p.cpu_memory_gbps = 1;
  p.disk_read_latency_us = p.disk_write_latency_us = 1;
  p.cpu_attention = {{1, 1.0, 1.0}};
  p.unit = {.gpu_us = 1, .cpu_attention_us = 1, .cache_load_us = 1, .hidden_load_us = 1};
  p.h2d_pinned_cpu_busy_gbps = 1;
  p.cpu_attention_h2d_busy = {.dense = 0.75, .sparse = 0.9};
  CHECK_NOTHROW(validate(p, "gpu calibration"));
  CHECK_NOTHROW(hardware_from_yaml(hardware_to_yaml(p), "round trip"));
}

TEST_CASE("gpu calibration times the block runner's units", "[gpu][calibrate]") {
  const test::ScratchDir dir;
  const UnitCosts u = measure_unit_costs(DeviceChoice::kGpu, dir.path(), 4);
  INFO("per unit: " << u.gpu_us << " us on the GPU, " << u.cpu_attention_us
                    << " attended on the CPU, " << u.cache_load_us << " loading the cache, "
                    << u.hidden_load_us << " loading hidden states");
  for (const double us : {u.gpu_us, u.cpu_attention_us, u.cache_load_us, u.hidden_load_us}) {
    CHECK(std::isfinite(us));
    CHECK(us > 1);      // a unit is at least a dozen launches
    CHECK(us < 10000);  // and none of them waits for real work
  }
  // The hand-off to the CPU and back waits on the GPU twice: it costs more than the floor.
  CHECK(u.cpu_attention_us > u.gpu_us);
}

}  // namespace alisa
