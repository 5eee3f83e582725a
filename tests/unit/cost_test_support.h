// Hardware profiles for the cost model's and solver's tests: one like the H100 host, and one
// where everything is too fast to matter, so a test slows down only what it prices by hand.
#pragma once

#include "policy/hardware.h"

namespace alisa::cost_test {

inline constexpr uint64_t kGiB = uint64_t{1} << 30;

inline HardwareProfile test_hardware() {
  HardwareProfile hw;
  hw.name = "test";
  hw.measured = "2026-11-26";
  hw.gpu = "test GPU";
  hw.cpu = "test CPU";
  hw.gpu_memory_bytes = 80 * kGiB;
  hw.cpu_memory_bytes = 128 * kGiB;
  hw.disk_bytes = 1024 * kGiB;
  hw.cpu_cores = 16;
  hw.h2d_pinned = {.alone_gbps = 55, .duplex_gbps = 40};
  hw.h2d_pinned_cpu_busy_gbps = 47;
  hw.d2h_pinned = {.alone_gbps = 55, .duplex_gbps = 40};
  hw.h2d_pageable = {.alone_gbps = 7, .duplex_gbps = 6};
  hw.d2h_pageable = {.alone_gbps = 7, .duplex_gbps = 6};
  hw.mapped_read_gbps = 50;
  hw.mapped_write_gbps = 50;
  hw.disk_read_gbps = 1.9;
  hw.disk_write_gbps = 1.5;
  hw.disk_read_latency_us = 100;
  hw.disk_write_latency_us = 150;
  hw.gpu_memory_gbps = 3000;
  hw.cpu_memory_gbps = 150;
  hw.gpu_launch_us = 3;
  hw.unit = {.gpu_us = 90, .cpu_attention_us = 140, .cache_load_us = 130, .hidden_load_us = 105};
  hw.gemm = {{.m = 1, .n = 4096, .k = 4096, .tflops = 15},
             {.m = 64, .n = 4096, .k = 4096, .tflops = 300},
             {.m = 4096, .n = 4096, .k = 4096, .tflops = 600}};
  hw.cpu_attention = {{.threads = 1, .dense_gbps = 8, .sparse_gbps = 4},
                      {.threads = 16, .dense_gbps = 80, .sparse_gbps = 40}};
  hw.cpu_attention_h2d_busy = {.dense = 0.75, .sparse = 0.9};
  hw.gpu_attention = {
      {.batch = 1, .dense_gbps = 300, .sparse_gbps = 100, .mapped_sparse_gbps = 10},
      {.batch = 128, .dense_gbps = 1000, .sparse_gbps = 400, .mapped_sparse_gbps = 45}};
  return hw;
}

inline HardwareProfile fast_hardware() {
  constexpr double kFast = 1e9;
  HardwareProfile hw = test_hardware();
  hw.h2d_pinned = hw.d2h_pinned = hw.h2d_pageable = hw.d2h_pageable = {kFast, kFast};
  hw.h2d_pinned_cpu_busy_gbps = kFast;
  hw.mapped_read_gbps = hw.mapped_write_gbps = kFast;
  hw.disk_read_gbps = hw.disk_write_gbps = kFast;
  hw.disk_read_latency_us = hw.disk_write_latency_us = 1e-9;
  hw.gpu_memory_gbps = hw.cpu_memory_gbps = kFast;
  hw.gpu_launch_us = 1e-9;
  hw.unit = {
      .gpu_us = 1e-9, .cpu_attention_us = 1e-9, .cache_load_us = 1e-9, .hidden_load_us = 1e-9};
  hw.gemm = {{.m = 1, .n = 4096, .k = 4096, .tflops = kFast}};
  hw.cpu_attention = {{.threads = 16, .dense_gbps = kFast, .sparse_gbps = kFast}};
  hw.cpu_attention_h2d_busy = {.dense = 1, .sparse = 1};
  hw.gpu_attention = {
      {.batch = 1, .dense_gbps = kFast, .sparse_gbps = kFast, .mapped_sparse_gbps = kFast}};
  return hw;
}

}  // namespace alisa::cost_test
