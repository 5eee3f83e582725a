// `alisa bench` over an uneven workload (continuous batching, issue 20): sequences whose prompt
// and generation lengths are drawn from distributions (policy/length_distribution.h, seeded),
// random prompt ids, greedy, each stopping at its drawn length, run as one job through the block
// with refill (a finished sequence's row takes the next prompt) or with the static schedule.
// Useful throughput counts the generated tokens of real sequences over the wall time.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "policy/length_distribution.h"
#include "runtime/jobs/engine.h"
#include "runtime/jobs/generator.h"

namespace alisa {

struct StreamWorkload {
  std::vector<SequenceLengths> sequences;  // in job order
  int64_t batch_size = 1;                  // the block's rows
  int64_t capacity = 0;                    // cache positions per row (0: Generator's default)
  bool refill = true;
  uint64_t seed = 0;  // of the random prompt ids
  bool warmup = true;
};

struct StreamBenchResult {
  double wall_s = 0;
  double useful_throughput = 0;  // generated tokens of real sequences / wall_s
  StreamStats stats;
  size_t peak_device_bytes = 0;
  size_t peak_cpu_tier_bytes = 0;
  nlohmann::json schedule;  // Timeline::stats_json of the timed run
};

StreamBenchResult run_stream_bench(Engine& engine, const StreamWorkload& workload);

// The result and the run's settings (the distributions' texts among them) as one JSON object.
nlohmann::json stream_bench_report(const Engine& engine, const StreamWorkload& workload,
                                   const StreamBenchResult& result, const nlohmann::json& settings);

}  // namespace alisa
