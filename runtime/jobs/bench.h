// `alisa bench`: a synthetic generation workload (FlexGen's benchmark shape: equal-length random
// prompts, a fixed number of new tokens, EOS ignored) timed after an uncounted warm-up run.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "runtime/jobs/engine.h"

namespace alisa {

struct BenchWorkload {
  int64_t prompt_len = 512;
  int64_t gen_len = 32;
  int64_t batch_size = 1;
  uint64_t seed = 0;  // of the random prompt ids
  bool warmup = true;
};

struct BenchResult {
  double prefill_s = 0;
  double decode_s = 0;
  double total_throughput = 0;   // generated tokens/s: batch * gen_len / (prefill + decode)
  double decode_throughput = 0;  // batch * (gen_len - 1) / decode
  double decode_step_ms = 0;
  // Bytes every decode step must read at least: all weights, and the KV cache at the mean
  // length over the decode steps.
  double decode_step_bytes = 0;
  size_t peak_device_bytes = 0;
  size_t peak_host_rss_bytes = 0;
  size_t peak_cpu_tier_bytes = 0;
  // The timed run's schedule, prefill and decode apart: busy time per stream, bytes per link, the
  // fraction of transfer time hidden under compute (Timeline::stats_json).
  nlohmann::json schedule;
  nlohmann::json trace;  // Chrome trace of the timed run (spans kept only when asked)
};

BenchResult run_bench(Engine& engine, const BenchWorkload& workload);

// The result and the run's settings as one JSON object.
nlohmann::json bench_report(const Engine& engine, const BenchWorkload& workload,
                            const BenchResult& result, const nlohmann::json& settings);

}  // namespace alisa
