#include "runtime/jobs/bench_stream.h"

#include <algorithm>
#include <chrono>
#include <random>

namespace alisa {
namespace {

std::vector<Request> random_requests(const StreamWorkload& w, int64_t vocab) {
  std::mt19937_64 rng(w.seed);
  std::vector<Request> requests(w.sequences.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    Request& r = requests[i];
    r.token_ids.resize(static_cast<size_t>(w.sequences[i].prompt_len));
    // Ids 3 and up: the low ones are special tokens in most vocabularies.
    for (int32_t& id : r.token_ids) id = static_cast<int32_t>(3 + rng() % (vocab - 3));
    r.max_new_tokens = w.sequences[i].gen_len;
    r.stop_at_eos = false;
    r.key = i;
  }
  return requests;
}

}  // namespace

StreamBenchResult run_stream_bench(Engine& engine, const StreamWorkload& w) {
  ALISA_CHECK(!w.sequences.empty() && w.batch_size >= 1,
              "bench: an uneven workload needs at least one sequence and a batch of one");
  const SequenceLengths longest = longest_lengths(w.sequences);
  ALISA_CHECK(longest.prompt_len + longest.gen_len <= engine.spec().max_positions,
              "bench: the longest prompt (", longest.prompt_len, ") and generation (",
              longest.gen_len, ") exceed the model's ", engine.spec().max_positions, " positions");
  Generator generator(engine, w.batch_size, longest.prompt_len, longest.gen_len, w.capacity,
                      w.refill);
  ALISA_CHECK(generator.block_size() == w.batch_size, "bench: the batch of ", w.batch_size,
              " sequences does not match the policy's block of ", generator.block_size(),
              " (gpu_batch_size * num_gpu_batches)");
  const std::vector<Request> requests = random_requests(w, engine.spec().vocab_size);
  const auto run = [&](size_t count, StreamStats& stats) {
    size_t next = 0;
    generator.run_stream(
        [&]() -> const Request* { return next < count ? &requests[next++] : nullptr; }, {}, stats);
  };
  engine.device().reset_peak();
  engine.cpu_tier().reset_peak();
  if (w.warmup) {  // one block's worth builds every kernel plan and workspace
    StreamStats ignored;
    run(std::min(requests.size(), static_cast<size_t>(w.batch_size)), ignored);
  }
  engine.device().synchronize();
  engine.timeline().clear();
  StreamBenchResult r;
  const auto start = std::chrono::steady_clock::now();
  run(requests.size(), r.stats);
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.useful_throughput = static_cast<double>(r.stats.generated_tokens) / r.wall_s;
  r.peak_device_bytes = engine.device().peak_bytes();
  r.peak_cpu_tier_bytes = engine.cpu_tier().peak_bytes();
  r.schedule = engine.timeline().stats_json();
  return r;
}

nlohmann::json stream_bench_report(const Engine& engine, const StreamWorkload& w,
                                   const StreamBenchResult& r, const nlohmann::json& settings) {
  const bool gpu = engine.device().kind() == DeviceKind::kGpu;
  const SequenceLengths longest = longest_lengths(w.sequences);
  int64_t prompt_tokens = 0;
  for (const SequenceLengths& s : w.sequences) prompt_tokens += s.prompt_len;
  return {
      {"model", engine.spec().name},
      {"device", engine.device().name()},
      {"dtype", dtype_name(engine.activation_dtype())},
      {"batch_size", w.batch_size},
      {"sequences", w.sequences.size()},
      {"refill", r.stats.refill},
      {"capacity", std::max(w.capacity, longest.prompt_len + longest.gen_len)},
      {"prompt_tokens", prompt_tokens},
      {"generated_tokens", r.stats.generated_tokens},
      {"wall_s", r.wall_s},
      {"useful_throughput", r.useful_throughput},
      {"idle_share", r.stats.idle_share()},
      {"blocks", r.stats.blocks},
      {"decode_steps", r.stats.decode_steps},
      {"refills", r.stats.refills},
      {"peak_memory_bytes",
       {{gpu ? "gpu" : "cpu_device", r.peak_device_bytes}, {"cpu_tier", r.peak_cpu_tier_bytes}}},
      {"schedule", r.schedule},
      {"settings", settings}};
}

}  // namespace alisa
