// The hardware profile (policy/hardware.h): YAML round trip, errors that name the key, the GEMM
// and CPU and GPU attention look-ups by hand; and the CPU-side measurements of `alisa calibrate`
// (runtime/calibrate/calibrate_cpu.h, calibrate_disk.h) on small sizes.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <regex>
#include <string>

#include "policy/hardware.h"
#include "runtime/base/common.h"
#include "runtime/calibrate/calibrate.h"
#include "runtime/calibrate/calibrate_cpu.h"
#include "runtime/calibrate/calibrate_disk.h"
#include "runtime/calibrate/calibrate_host.h"
#include "runtime/calibrate/calibrate_shapes.h"
#include "runtime/calibrate/calibrate_timing.h"
#include "runtime/ops/backend.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

// Every number has at most six significant digits, so the YAML holds it exactly.
HardwareProfile sample() {
  HardwareProfile p;
  p.name = "h100-host";
  p.measured = "2026-11-26";
  p.gpu = "NVIDIA H100 80GB HBM3";
  p.cpu = "Intel(R) Xeon(R) Platinum 8480+";
  p.gpu_memory_bytes = 85045379072;
  p.cpu_memory_bytes = 2164173664256;
  p.disk_bytes = 1099511627776;
  p.cpu_cores = 16;
  p.h2d_pinned = {25.5, 20.25};
  p.d2h_pinned = {26.125, 19.5};
  p.h2d_pinned_cpu_busy_gbps = 22.25;
  p.h2d_pageable = {9.75, 7.5};
  p.d2h_pageable = {8.5, 6.25};
  p.mapped_read_gbps = 21.5;
  p.mapped_write_gbps = 23.75;
  p.disk_read_gbps = 3.125;
  p.disk_write_gbps = 2.5;
  p.disk_read_latency_us = 95.5;
  p.disk_write_latency_us = 180.25;
  p.gpu_memory_gbps = 2894.5;
  p.cpu_memory_gbps = 180.25;
  p.gpu_launch_us = 2.375;
  p.unit = {
      .gpu_us = 96.5, .cpu_attention_us = 145.25, .cache_load_us = 132, .hidden_load_us = 107};
  p.gemm = {{1, 4096, 4096, 1.0},  {16, 4096, 4096, 9.0},    {256, 4096, 4096, 200.0},
            {1, 16384, 4096, 2.0}, {64, 16384, 4096, 100.0}, {1, 4096, 16384, 3.0}};
  p.cpu_attention = {{1, 2.0, 1.0}, {2, 4.0, 1.5}, {8, 10.0, 4.0}};
  p.cpu_attention_h2d_busy = {.dense = 0.75, .sparse = 0.875};
  p.gpu_attention = {{1, 100.0, 40.0, 10.0}, {8, 400.0, 160.0, 40.0}, {64, 1000.0, 500.0, 50.5}};
  return p;
}

std::string error_of(const std::string& yaml) {
  try {
    hardware_from_yaml(yaml, "hw.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string validate_error(const HardwareProfile& p) {
  try {
    validate(p, "profile");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The sample's YAML with `from` replaced by `to` (which must be there).
std::string edited(const std::string& from, const std::string& to) {
  std::string yaml = hardware_to_yaml(sample());
  const size_t at = yaml.find(from);
  REQUIRE(at != std::string::npos);
  return yaml.replace(at, from.size(), to);
}

void check_same(const HardwareProfile& a, const HardwareProfile& b) {
  CHECK(a.name == b.name);
  CHECK(a.measured == b.measured);
  CHECK(a.gpu == b.gpu);
  CHECK(a.cpu == b.cpu);
  CHECK(a.gpu_memory_bytes == b.gpu_memory_bytes);
  CHECK(a.cpu_memory_bytes == b.cpu_memory_bytes);
  CHECK(a.disk_bytes == b.disk_bytes);
  CHECK(a.cpu_cores == b.cpu_cores);
  for (const auto& [x, y] : {std::pair{a.h2d_pinned, b.h2d_pinned},
                             {a.d2h_pinned, b.d2h_pinned},
                             {a.h2d_pageable, b.h2d_pageable},
                             {a.d2h_pageable, b.d2h_pageable}}) {
    CHECK(x.alone_gbps == y.alone_gbps);
    CHECK(x.duplex_gbps == y.duplex_gbps);
  }
  CHECK(a.mapped_read_gbps == b.mapped_read_gbps);
  CHECK(a.mapped_write_gbps == b.mapped_write_gbps);
  CHECK(a.disk_read_gbps == b.disk_read_gbps);
  CHECK(a.disk_write_gbps == b.disk_write_gbps);
  CHECK(a.disk_read_latency_us == b.disk_read_latency_us);
  CHECK(a.disk_write_latency_us == b.disk_write_latency_us);
  CHECK(a.gpu_memory_gbps == b.gpu_memory_gbps);
  CHECK(a.cpu_memory_gbps == b.cpu_memory_gbps);
  CHECK(a.gpu_launch_us == b.gpu_launch_us);
  CHECK(a.h2d_pinned_cpu_busy_gbps == b.h2d_pinned_cpu_busy_gbps);
  CHECK(a.unit.gpu_us == b.unit.gpu_us);
  CHECK(a.unit.cpu_attention_us == b.unit.cpu_attention_us);
  CHECK(a.unit.cache_load_us == b.unit.cache_load_us);
  CHECK(a.unit.hidden_load_us == b.unit.hidden_load_us);
  REQUIRE(a.gemm.size() == b.gemm.size());
  for (size_t i = 0; i < a.gemm.size(); ++i) {
    CHECK(a.gemm[i].m == b.gemm[i].m);
    CHECK(a.gemm[i].n == b.gemm[i].n);
    CHECK(a.gemm[i].k == b.gemm[i].k);
    CHECK(a.gemm[i].tflops == b.gemm[i].tflops);
  }
  REQUIRE(a.cpu_attention.size() == b.cpu_attention.size());
  for (size_t i = 0; i < a.cpu_attention.size(); ++i) {
    CHECK(a.cpu_attention[i].threads == b.cpu_attention[i].threads);
    CHECK(a.cpu_attention[i].dense_gbps == b.cpu_attention[i].dense_gbps);
    CHECK(a.cpu_attention[i].sparse_gbps == b.cpu_attention[i].sparse_gbps);
  }
  CHECK(a.cpu_attention_h2d_busy.dense == b.cpu_attention_h2d_busy.dense);
  CHECK(a.cpu_attention_h2d_busy.sparse == b.cpu_attention_h2d_busy.sparse);
  REQUIRE(a.gpu_attention.size() == b.gpu_attention.size());
  for (size_t i = 0; i < a.gpu_attention.size(); ++i) {
    CHECK(a.gpu_attention[i].batch == b.gpu_attention[i].batch);
    CHECK(a.gpu_attention[i].dense_gbps == b.gpu_attention[i].dense_gbps);
    CHECK(a.gpu_attention[i].sparse_gbps == b.gpu_attention[i].sparse_gbps);
    CHECK(a.gpu_attention[i].mapped_sparse_gbps == b.gpu_attention[i].mapped_sparse_gbps);
  }
}

}  // namespace

TEST_CASE("hardware profile YAML round trip", "[hardware]") {
  const HardwareProfile p = sample();
  const std::string yaml = hardware_to_yaml(p);
  INFO(yaml);
  CHECK(yaml.rfind("# Hardware profile written by `alisa calibrate`", 0) == 0);
  CHECK_THAT(yaml, Catch::Contains("capacity: {gpu_memory_bytes: 85045379072,"));
  CHECK_THAT(yaml, Catch::Contains("  - {m: 16, n: 4096, k: 4096, tflops: 9}"));
  CHECK_THAT(yaml, Catch::Contains("\ngpu_attention:"));
  CHECK_THAT(yaml, Catch::Contains(
                       "  - {batch: 64, dense_gbps: 1000, sparse_gbps: 500, mapped_sparse_gbps: "
                       "50.5}\n"));
  const HardwareProfile back = hardware_from_yaml(yaml, "hw.yaml");
  check_same(p, back);
  CHECK(hardware_to_yaml(back) == yaml);

  SECTION("names YAML would misread, and no GPU name") {
    HardwareProfile q = sample();
    q.cpu = "Vendor: CPU #1, \"quoted\"";
    q.gpu = "";
    q.name = "2026";
    check_same(q, hardware_from_yaml(hardware_to_yaml(q), "hw.yaml"));
  }
  SECTION("measured rates keep six significant digits") {
    HardwareProfile q = sample();
    q.h2d_pinned.alone_gbps = 25.123456789;
    q.gemm[0].tflops = 0.000123456789;
    const HardwareProfile r = hardware_from_yaml(hardware_to_yaml(q), "hw.yaml");
    CHECK(r.h2d_pinned.alone_gbps == Approx(25.123456789).epsilon(1e-5));
    CHECK(r.gemm[0].tflops == Approx(0.000123456789).epsilon(1e-5));
  }
  SECTION("load_hardware reads a file and names a missing one") {
    test::ScratchDir scratch;
    test::write_text(scratch / "h100.yaml", yaml);
    check_same(p, load_hardware(scratch / "h100.yaml"));
    CHECK_THROWS_WITH(load_hardware(scratch / "none.yaml"), Catch::Contains("none.yaml"));
  }
}

TEST_CASE("hardware profile YAML errors name the source and the key", "[hardware]") {
  auto require_error = [](const std::string& yaml, const std::string& culprit) {
    const std::string message = error_of(yaml);
    INFO(yaml);
    CHECK_THAT(message, Catch::StartsWith("hw.yaml: "));
    CHECK_THAT(message, Catch::Contains(culprit));
  };
  SECTION("missing keys") {
    require_error(edited("gpu_launch_us: 2.375\n", ""), "missing key 'gpu_launch_us'");
    require_error(edited(", d2h_duplex_gbps: 19.5,", ","), "missing key 'pinned.d2h_duplex_gbps'");
    require_error(edited(", h2d_cpu_busy_gbps: 22.25}", "}"),
                  "missing key 'pinned.h2d_cpu_busy_gbps'");
    require_error(edited(", tflops: 9}", "}"), "missing key 'gpu_gemm[1].tflops'");
    require_error(edited(", mapped_sparse_gbps: 40}", "}"),
                  "missing key 'gpu_attention[1].mapped_sparse_gbps'");
    {
      const std::string yaml = hardware_to_yaml(sample());
      require_error(yaml.substr(0, yaml.find("\ngpu_attention:") + 1),
                    "missing key 'gpu_attention'");
    }
    require_error(edited("name: h100-host\n", ""), "missing key 'name'");
    require_error(edited(", hidden_load: 107}", "}"), "missing key 'unit_us.hidden_load'");
    require_error(edited(", sparse_share: 0.875}", "}"),
                  "missing key 'cpu_attention_h2d_busy.sparse_share'");
  }
  SECTION("rates and capacities that are not positive numbers") {
    require_error(edited("read_gbps: 21.5", "read_gbps: -21.5"),
                  "'mapped.read_gbps' must be a positive number, got -21.5");
    require_error(edited("gpu_launch_us: 2.375", "gpu_launch_us: 0"), "'gpu_launch_us'");
    require_error(edited("dense_share: 0.75", "dense_share: 0"),
                  "'cpu_attention_h2d_busy.dense_share' must be a positive number, got 0");
    require_error(edited("gpu_launch_us: 2.375", "gpu_launch_us: fast"),
                  "'gpu_launch_us' must be a number, got 'fast'");
    require_error(edited("h2d_gbps: 9.75", "h2d_gbps: .nan"), "'pageable.h2d_gbps'");
    require_error(edited("disk_bytes: 1099511627776", "disk_bytes: -5"),
                  "'capacity.disk_bytes' must be a positive integer, got -5");
    require_error(edited("cpu_cores: 16", "cpu_cores: 0"), "'capacity.cpu_cores'");
    require_error(edited("{gpu: 96.5,", "{gpu: -1,"), "'unit_us.gpu'");
    require_error(edited("{threads: 2, dense_gbps: 4,", "{threads: 2, dense_gbps: -4,"),
                  "'cpu_attention[1].dense_gbps'");
    require_error(edited("{m: 1, n: 16384,", "{m: 0, n: 16384,"), "'gpu_gemm[3].m'");
    require_error(edited("{batch: 8, dense_gbps: 400,", "{batch: 8, dense_gbps: 0,"),
                  "'gpu_attention[1].dense_gbps' must be a positive number, got 0");
    require_error(edited("sparse_gbps: 160,", "sparse_gbps: -160,"),
                  "'gpu_attention[1].sparse_gbps'");
    require_error(edited("mapped_sparse_gbps: 50.5", "mapped_sparse_gbps: .inf"),
                  "'gpu_attention[2].mapped_sparse_gbps'");
    require_error(edited("{batch: 1,", "{batch: 0,"),
                  "'gpu_attention[0].batch' must be a positive integer, got 0");
    require_error(edited("{batch: 8,", "{batch: 2.5,"),
                  "'gpu_attention[1].batch' must be an integer");
  }
  SECTION("unknown and repeated keys") {
    require_error(hardware_to_yaml(sample()) + "colour: blue\n", "unknown key 'colour'");
    require_error(edited("mapped: {read_gbps: 21.5", "mapped: {speed: 1, read_gbps: 21.5"),
                  "unknown key 'mapped.speed'");
    require_error(edited("{threads: 1,", "{threads: 1, numa: 0,"),
                  "unknown key 'cpu_attention[0].numa'");
    require_error(edited("{batch: 1,", "{batch: 1, heads: 32,"),
                  "unknown key 'gpu_attention[0].heads'");
    require_error(hardware_to_yaml(sample()) + "gpu_launch_us: 3\n",
                  "key 'gpu_launch_us' appears more than once");
  }
  SECTION("malformed YAML and wrong node kinds") {
    require_error("name: [unclosed\n", "not valid YAML");
    require_error("", "empty");
    require_error("- 1\n- 2\n", "must be a mapping");
    require_error(edited("pinned: {", "pinned: ["), "not valid YAML");
    require_error(edited("mapped: {read_gbps: 21.5, write_gbps: 23.75}", "mapped: 7"),
                  "'mapped' must be a mapping of read_gbps, write_gbps");
    require_error(edited("gpu: NVIDIA H100 80GB HBM3", "gpu: [a, b]"), "'gpu' must be a string");
  }
  SECTION("empty and unordered tables") {
    std::string yaml = hardware_to_yaml(sample());
    const size_t from = yaml.find("gpu_gemm:");
    const size_t to = yaml.find("\ncpu_attention:") + 1;
    require_error(yaml.substr(0, from) + "gpu_gemm: []\n" + yaml.substr(to), "'gpu_gemm' is empty");
    require_error(yaml.substr(0, from) + "gpu_gemm: {m: 1}\n" + yaml.substr(to),
                  "'gpu_gemm' must be a list of {m, n, k, tflops}");
    const size_t gpu_attention = yaml.find("\ngpu_attention:") + 1;
    require_error(yaml.substr(0, yaml.find("\ncpu_attention:") + 1) + "cpu_attention: []\n" +
                      yaml.substr(yaml.find("\ncpu_attention_h2d_busy:") + 1),
                  "'cpu_attention' is empty");
    require_error(yaml.substr(0, gpu_attention) + "gpu_attention: []\n",
                  "'gpu_attention' is empty (at least one batch size)");
    require_error(yaml.substr(0, gpu_attention) + "gpu_attention: {batch: 1}\n",
                  "'gpu_attention' must be a list of {batch, dense_gbps, sparse_gbps, "
                  "mapped_sparse_gbps}");
    require_error(edited("{m: 256, n: 4096", "{m: 8, n: 4096"), "'gpu_gemm[2].m' is 8");
    require_error(edited("{threads: 8,", "{threads: 2,"), "'cpu_attention[2].threads' is 2");
    require_error(edited("{batch: 64,", "{batch: 8,"),
                  "'gpu_attention[2].batch' is 8: batch sizes must ascend (the one before is 8)");
    require_error(edited("{batch: 8,", "{batch: 1,"), "'gpu_attention[1].batch' is 1");
  }
}

TEST_CASE("validate checks a profile built in code", "[hardware]") {
  CHECK(validate_error(sample()) == "(no error)");
  CHECK_THAT(validate_error(HardwareProfile{}),
             Catch::Contains("profile: 'capacity.gpu_memory_bytes' must be a positive"));
  HardwareProfile p = sample();
  p.d2h_pinned.duplex_gbps = INFINITY;
  CHECK_THAT(validate_error(p), Catch::Contains("'pinned.d2h_duplex_gbps'"));
  p = sample();
  p.gemm[1].tflops = NAN;
  CHECK_THAT(validate_error(p), Catch::Contains("'gpu_gemm[1].tflops'"));
  p = sample();
  p.gemm.push_back({512, 4096, 4096, 300.0});  // (4096, 4096) again, apart from its group
  CHECK_THAT(validate_error(p), Catch::Contains("'gpu_gemm[6]': (n, k) = (4096, 4096)"));
  p = sample();
  p.gemm.clear();
  CHECK_THAT(validate_error(p), Catch::Contains("'gpu_gemm' is empty"));
  p = sample();
  p.gpu_attention.clear();
  CHECK_THAT(validate_error(p), Catch::Contains("'gpu_attention' is empty"));
  p = sample();
  p.gpu_attention[2].mapped_sparse_gbps = NAN;
  CHECK_THAT(validate_error(p), Catch::Contains("'gpu_attention[2].mapped_sparse_gbps'"));
  p = sample();
  std::swap(p.gpu_attention[0], p.gpu_attention[1]);
  CHECK_THAT(validate_error(p), Catch::Contains("'gpu_attention[1].batch' is 1"));
}

TEST_CASE("gemm_tflops: nearest (n, k), interpolated in log m, clamped", "[hardware]") {
  const HardwareProfile p = sample();
  // (4096, 4096): m 1, 16, 256 -> 1, 9, 200.
  CHECK(gemm_tflops(p, 16, 4096, 4096) == Approx(9.0));
  CHECK(gemm_tflops(p, 4, 4096, 4096) == Approx(5.0));     // log 4 halfway from log 1 to log 16
  CHECK(gemm_tflops(p, 64, 4096, 4096) == Approx(104.5));  // log 64 halfway from log 16 to 256
  CHECK(gemm_tflops(p, 2, 4096, 4096) == Approx(1.0 + 8.0 * 0.25));
  CHECK(gemm_tflops(p, 1, 4096, 4096) == Approx(1.0));
  CHECK(gemm_tflops(p, 0, 4096, 4096) == Approx(1.0));         // clamped below
  CHECK(gemm_tflops(p, 100000, 4096, 4096) == Approx(200.0));  // clamped above
  // Nearest by |log(n k) - log(n' k')|: 5000 * 4096 is 0.20 from (4096, 4096), 1.19 from the
  // 16384 * 4096 shapes; 12000 * 4096 is 1.07 and 0.31.
  CHECK(gemm_tflops(p, 4, 5000, 4096) == Approx(5.0));
  CHECK(gemm_tflops(p, 8, 12000, 4096) == Approx(51.0));  // log 8 halfway from log 1 to log 64
  // (16384, 4096) and (4096, 16384) tie on n k: an exact shape wins, else the first listed.
  CHECK(gemm_tflops(p, 1, 4096, 16384) == Approx(3.0));
  CHECK(gemm_tflops(p, 1, 16384, 4096) == Approx(2.0));
  CHECK(gemm_tflops(p, 1, 8192, 8192) == Approx(2.0));
  CHECK(gemm_tflops(p, 1000, 4096, 16384) == Approx(3.0));  // a one-entry group
  HardwareProfile empty = p;
  empty.gemm.clear();
  CHECK_THROWS_WITH(gemm_tflops(empty, 1, 4096, 4096), Catch::Contains("gpu_gemm"));
}

TEST_CASE("cpu_attention_rate interpolates between thread counts and clamps", "[hardware]") {
  HardwareProfile p = sample();  // threads 1, 2, 8: dense 2, 4, 10; sparse 1, 1.5, 4
  CpuAttentionRate r = cpu_attention_rate(p, 1);
  CHECK(r.threads == 1);
  CHECK(r.dense_gbps == Approx(2.0));
  CHECK(r.sparse_gbps == Approx(1.0));
  r = cpu_attention_rate(p, 4);  // a third of the way from 2 to 8
  CHECK(r.threads == 4);
  CHECK(r.dense_gbps == Approx(6.0));
  CHECK(r.sparse_gbps == Approx(1.5 + 2.5 / 3));
  r = cpu_attention_rate(p, 0);  // the profile's 16 cores: past the last entry
  CHECK(r.threads == 16);
  CHECK(r.dense_gbps == Approx(10.0));
  CHECK(r.sparse_gbps == Approx(4.0));
  CHECK(cpu_attention_rate(p, 64).dense_gbps == Approx(10.0));
  p.cpu_attention.erase(p.cpu_attention.begin());  // now from 2 threads
  r = cpu_attention_rate(p, 1);
  CHECK(r.threads == 1);
  CHECK(r.dense_gbps == Approx(4.0));
  p.cpu_attention.clear();
  CHECK_THROWS_WITH(cpu_attention_rate(p, 1), Catch::Contains("cpu_attention"));
}

TEST_CASE("gpu_attention_rate interpolates in log batch and clamps", "[hardware]") {
  HardwareProfile p = sample();  // batch 1, 8, 64: dense 100, 400, 1000; sparse 40, 160, 500;
                                 // mapped 10, 40, 50.5
  GpuAttentionRate r = gpu_attention_rate(p, 8);
  CHECK(r.batch == 8);
  CHECK(r.dense_gbps == Approx(400.0));
  CHECK(r.sparse_gbps == Approx(160.0));
  CHECK(r.mapped_sparse_gbps == Approx(40.0));
  r = gpu_attention_rate(p, 2);  // log 2 a third of the way from log 1 to log 8
  CHECK(r.batch == 2);
  CHECK(r.dense_gbps == Approx(200.0));
  CHECK(r.sparse_gbps == Approx(80.0));
  CHECK(r.mapped_sparse_gbps == Approx(20.0));
  r = gpu_attention_rate(p, 4);  // two thirds
  CHECK(r.dense_gbps == Approx(300.0));
  r = gpu_attention_rate(p, 16);  // log 16 a third of the way from log 8 to log 64
  CHECK(r.batch == 16);
  CHECK(r.dense_gbps == Approx(600.0));
  CHECK(r.sparse_gbps == Approx(160.0 + 340.0 / 3));
  CHECK(r.mapped_sparse_gbps == Approx(43.5));
  r = gpu_attention_rate(p, 1);
  CHECK(r.batch == 1);
  CHECK(r.dense_gbps == Approx(100.0));
  r = gpu_attention_rate(p, 1000);  // clamped above
  CHECK(r.batch == 1000);
  CHECK(r.dense_gbps == Approx(1000.0));
  CHECK(r.sparse_gbps == Approx(500.0));
  CHECK(r.mapped_sparse_gbps == Approx(50.5));
  p.gpu_attention.erase(p.gpu_attention.begin());  // now from batch 8: clamped below
  r = gpu_attention_rate(p, 2);
  CHECK(r.batch == 2);
  CHECK(r.dense_gbps == Approx(400.0));
  CHECK(r.mapped_sparse_gbps == Approx(40.0));
  p.gpu_attention.resize(1);  // one entry: every batch gets it
  CHECK(gpu_attention_rate(p, 3).sparse_gbps == Approx(160.0));
  CHECK(gpu_attention_rate(p, 300).sparse_gbps == Approx(160.0));
  p.gpu_attention.clear();
  CHECK_THROWS_WITH(gpu_attention_rate(p, 1), Catch::Contains("gpu_attention"));
}

TEST_CASE("the committed hardware profiles load", "[hardware]") {
  const std::filesystem::path folder = std::filesystem::path(ALISA_SOURCE_DIR) / "configs/hardware";
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() != ".yaml") continue;
    INFO(entry.path().string());
    HardwareProfile p;
    CHECK_NOTHROW(p = load_hardware(entry.path()));
    CHECK(p.name == entry.path().stem().string());
    ++loaded;
  }
  CHECK(loaded >= 1);
  const HardwareProfile h100 = load_hardware(folder / "h100-host.yaml");
  REQUIRE(h100.gpu_attention.size() == 4);
  CHECK(h100.gpu_attention.back().batch == 128);
}

TEST_CASE("calibrate's model shapes and thread counts", "[hardware][calibrate]") {
  using Shapes = std::vector<GemmShape>;
  // q, k, v, o [4096, 4096]; fc1 [4096, 16384]; fc2 [16384, 4096]; head [4096, 50272].
  CHECK(calibration_gemm_shapes({"opt-6.7b"}) ==
        Shapes{{4096, 4096}, {16384, 4096}, {4096, 16384}, {50272, 4096}});
  // LLaMA-2-70B's grouped K and V: kv_dim 8 * 128 = 1024.
  CHECK(calibration_gemm_shapes({"llama-2-70b"}) ==
        Shapes{{8192, 8192}, {1024, 8192}, {28672, 8192}, {8192, 28672}, {32000, 8192}});
  // Shared shapes appear once.
  CHECK(calibration_gemm_shapes({"opt-6.7b", "llama-2-7b"}).size() == 7);
  CHECK(calibration_gemm_shapes(default_calibration_models()).size() == 27);
  CHECK_THROWS_WITH(calibration_gemm_shapes({"opt-6.7b", "gpt-5"}), Catch::Contains("'gpt-5'"));

  CHECK(calibration_thread_counts(1) == std::vector<int64_t>{1});
  CHECK(calibration_thread_counts(2) == std::vector<int64_t>{1, 2});
  CHECK(calibration_thread_counts(16) == std::vector<int64_t>{1, 2, 4, 8, 16});
  CHECK(calibration_thread_counts(12) == std::vector<int64_t>{1, 2, 4, 8, 12});

  CHECK(median({3.0, 1.0, 2.0}) == 2.0);
  CHECK(median({4.0, 1.0, 2.0, 3.0}) == 2.5);
}

TEST_CASE("calibrate's host facts and CPU measurements on small sizes", "[hardware][calibrate]") {
  CHECK(std::regex_match(today_text(), std::regex(R"(\d{4}-\d{2}-\d{2})")));
  CHECK(online_cores() >= 1);
  CHECK(physical_memory_bytes() > 0);
  auto plausible = [](double gbps) { return std::isfinite(gbps) && gbps > 0 && gbps < 1e5; };

  const double memory = measure_cpu_memory_gbps(size_t{8} << 20, 2);
  INFO("CPU memory " << memory << " GB/s");
  CHECK(plausible(memory));

  const CpuAttentionShape shape{.batch = 2,
                                .n_heads = 4,
                                .head_dim = 64,
                                .n_tokens = 128,
                                .swa_sparsity = 0.8,
                                .kv_sets = 2,
                                .idle_us = 50};
  const std::vector<CpuAttentionRate> attention = measure_cpu_attention(shape, {1, 2});
  REQUIRE(attention.size() == 2);
  for (const CpuAttentionRate& r : attention) {
    INFO(r.threads << " threads: CPU attention " << r.dense_gbps << ", " << r.sparse_gbps
                   << " GB/s");
    CHECK(plausible(r.dense_gbps));
    CHECK(plausible(r.sparse_gbps));
  }
  CHECK(attention[0].threads == 1);
  CHECK(attention[1].threads == 2);

  test::ScratchDir scratch;
  const DiskRates disk =
      measure_disk(scratch / "disk", uint64_t{4} << 20, size_t{1} << 20, size_t{256} << 10);
  INFO("disk read " << disk.read_gbps << ", write " << disk.write_gbps << " GB/s; latency read "
                    << disk.read_latency_us << ", write " << disk.write_latency_us << " us");
  CHECK(plausible(disk.read_gbps));
  CHECK(plausible(disk.write_gbps));
  // A block's request takes more than a microsecond and less than a second, even on tmpfs.
  CHECK(disk.read_latency_us > 0.1);
  CHECK(disk.read_latency_us < 1e6);
  CHECK(disk.write_latency_us > 0.1);
  CHECK(disk.write_latency_us < 1e6);
  CHECK(std::filesystem::is_empty(scratch / "disk"));  // the scratch file is gone
  CHECK_THROWS_WITH(measure_disk(scratch / "disk", 4096, 12288, 8192),
                    Catch::Contains("do not divide one another"));
  CHECK_THROWS_WITH(measure_disk("/proc/alisa-calibrate", 4096, 4096, 4096),
                    Catch::Contains("/proc/alisa-calibrate"));
}

TEST_CASE("calibrate refuses an unknown model, then a machine without a GPU",
          "[hardware][calibrate]") {
  CalibrateOptions options;
  options.models = {"opt-6.7b", "opt-7b"};
  CHECK_THROWS_WITH(calibrate(options), Catch::Contains("'opt-7b'"));
  if (!gpu_available()) {
    options.models.clear();
    CHECK_THROWS_WITH(calibrate(options), Catch::StartsWith("alisa calibrate needs a CUDA GPU: "));
    CHECK_THAT(calibration_gpu_problem(), Catch::StartsWith("alisa calibrate needs a CUDA GPU: "));
  } else {
    CHECK(calibration_gpu_problem().empty());
  }
}

}  // namespace alisa
