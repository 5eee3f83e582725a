#include "runtime/jobs/bench.h"

#include <sys/resource.h>
#include <chrono>
#include <random>

namespace alisa {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

size_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<size_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

struct Timings {
  double prefill_s = 0;
  double decode_s = 0;
  nlohmann::json prefill_schedule, decode_schedule;
  nlohmann::json trace;  // prefill and decode spans together, when the engine keeps spans
};

// One generation of `gen_len` tokens for a block of random prompts, greedy, EOS ignored. Prefill
// ends when its first token is on the host; every decode step likewise (as in a real job).
Timings generate_once(Engine& engine, const BenchWorkload& w, int64_t gen_len) {
  std::unique_ptr<BlockRunner> runner =
      engine.make_block_runner(w.batch_size, w.prompt_len + gen_len, w.prompt_len, false);
  const int64_t b = runner->shape().block_size();
  ALISA_CHECK(b == w.batch_size, "bench: the batch of ", w.batch_size,
              " sequences does not match the policy's block of ", b,
              " (gpu_batch_size * num_gpu_batches)");
  std::mt19937_64 rng(w.seed);
  std::uniform_int_distribution<int32_t> token(3,
                                               static_cast<int32_t>(engine.spec().vocab_size - 1));
  std::vector<int32_t> ids(static_cast<size_t>(b * w.prompt_len));
  for (int32_t& id : ids) id = token(rng);
  const std::vector<uint8_t> mask(ids.size(), 1);
  const std::vector<uint8_t> ones(static_cast<size_t>(b), 1);
  const std::vector<uint64_t> keys(static_cast<size_t>(b), 0);
  engine.device().synchronize();
  engine.timeline().clear();

  Timings t;
  const auto start = Clock::now();
  runner->step(ids, mask, w.prompt_len);
  std::vector<int32_t> next = runner->sample({}, keys, 0);
  t.prefill_s = seconds_since(start);
  t.prefill_schedule = engine.timeline().stats_json();
  t.trace = engine.timeline().chrome_trace();
  engine.timeline().clear();
  const auto decode_start = Clock::now();
  for (int64_t step = 1; step < gen_len; ++step) {
    runner->step(next, ones, 1);
    next = runner->sample({}, keys, static_cast<uint64_t>(step));
  }
  t.decode_s = seconds_since(decode_start);
  t.decode_schedule = engine.timeline().stats_json();
  // The lane names ("M" events) repeat; viewers take them once. (The trace is held in a local:
  // a range-for over a member of a temporary would read it after its destruction.)
  const nlohmann::json decode_trace = engine.timeline().chrome_trace();
  for (const nlohmann::json& event : decode_trace["traceEvents"]) {
    t.trace["traceEvents"].push_back(event);
  }
  return t;
}

}  // namespace

BenchResult run_bench(Engine& engine, const BenchWorkload& w) {
  ALISA_CHECK(w.prompt_len >= 1 && w.gen_len >= 2 && w.batch_size >= 1,
              "bench needs prompt_len >= 1, gen_len >= 2 and batch_size >= 1");
  ALISA_CHECK(w.prompt_len + w.gen_len <= engine.spec().max_positions, "prompt_len ", w.prompt_len,
              " + gen_len ", w.gen_len, " exceeds the model's ", engine.spec().max_positions,
              " positions");
  engine.device().reset_peak();
  engine.cpu_tier().reset_peak();
  // The warm-up builds every kernel plan and workspace the timed run needs.
  if (w.warmup) generate_once(engine, w, 2);
  Timings t = generate_once(engine, w, w.gen_len);  // not const: its trace is moved out

  const ModelSpec& s = engine.spec();
  BenchResult r;
  r.prefill_s = t.prefill_s;
  r.decode_s = t.decode_s;
  const double b = static_cast<double>(w.batch_size);
  r.total_throughput = b * static_cast<double>(w.gen_len) / (t.prefill_s + t.decode_s);
  r.decode_throughput = b * static_cast<double>(w.gen_len - 1) / t.decode_s;
  r.decode_step_ms = 1e3 * t.decode_s / static_cast<double>(w.gen_len - 1);
  const double element = static_cast<double>(dtype_size(engine.activation_dtype()));
  const double mean_length =
      static_cast<double>(w.prompt_len) + static_cast<double>(w.gen_len) / 2.0;
  const double kv_bytes = b * mean_length * static_cast<double>(s.n_layers) * 2.0 *
                          static_cast<double>(s.kv_dim()) * element;
  r.decode_step_bytes = static_cast<double>(s.n_parameters()) * element + kv_bytes;
  r.peak_device_bytes = engine.device().peak_bytes();
  r.peak_cpu_tier_bytes = engine.cpu_tier().peak_bytes();
  r.schedule = {{"prefill", t.prefill_schedule}, {"decode", t.decode_schedule}};
  r.trace = std::move(t.trace);
  r.peak_host_rss_bytes = peak_rss_bytes();
  return r;
}

nlohmann::json bench_report(const Engine& engine, const BenchWorkload& w, const BenchResult& r,
                            const nlohmann::json& settings) {
  const bool gpu = engine.device().kind() == DeviceKind::kGpu;
  nlohmann::json report = {{"model", engine.spec().name},
                           {"device", engine.device().name()},
                           {"dtype", dtype_name(engine.activation_dtype())},
                           {"batch_size", w.batch_size},
                           {"prompt_len", w.prompt_len},
                           {"gen_len", w.gen_len},
                           {"prefill_latency_s", r.prefill_s},
                           {"decode_latency_s", r.decode_s},
                           {"decode_step_ms", r.decode_step_ms},
                           {"decode_step_bytes", r.decode_step_bytes},
                           {"decode_throughput", r.decode_throughput},
                           {"total_throughput", r.total_throughput},
                           {"peak_memory_bytes",
                            {{gpu ? "gpu" : "cpu_device", r.peak_device_bytes},
                             {"cpu_tier", r.peak_cpu_tier_bytes},
                             {"host_rss", r.peak_host_rss_bytes}}},
                           {"schedule", r.schedule},
                           {"settings", settings}};
  return report;
}

}  // namespace alisa
