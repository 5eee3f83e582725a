#include <fstream>
#include <iostream>

#include "runtime/cli/commands.h"
#include "runtime/cli/run_flags.h"
#include "runtime/jobs/bench.h"
#include "runtime/jobs/bench_stream.h"
#include "runtime/jobs/job_io.h"

namespace alisa::cli {
namespace {

nlohmann::json policy_json(const Policy& p) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [key, value] : policy_settings(p)) {
    std::visit([&json, &key](const auto& x) { json[key] = x; }, value);
  }
  return json;
}

nlohmann::json swa_json(const SwaOptions& s) {
  if (!s.enabled()) return nullptr;
  return {{"sparsity", s.sparsity},
          {"window_max", s.window_max},
          {"granularity", swa_granularity_name(s.granularity)},
          {"score", swa_score_name(s.score)},
          {"min_tokens", s.min_tokens},
          {"gamma", s.gamma}};
}

void write_json_file(const std::string& path, const nlohmann::json& json) {
  std::ofstream out(path);
  out << json.dump() << '\n';
  out.close();
  ALISA_CHECK(out.good(), "cannot write the trace to '", path, "'");
}

nlohmann::json settings_json(const RunConfig& c, const EngineOptions& e) {
  const char* devices[] = {"auto", "cpu", "gpu"};
  nlohmann::json policy = nullptr;
  if (e.policy) policy = policy_json(*e.policy);
  return {{"device", devices[static_cast<int>(e.backend.device)]},
          {"policy", policy},
          {"policy_source", c.policy.value_or("")},
          {"swa", swa_json(e.swa)},
          {"gpu_memory_limit", c.gpu_memory_limit.value_or(0)},
          {"cpu_memory_limit", c.cpu_memory_limit.value_or(0)},
          {"threads", c.threads.value_or(0)},
          {"dummy_seed", e.dummy_seed}};
}

// The flags of an uneven workload (issue 20's standard job).
struct UnevenFlags {
  std::string prompt_len_dist, gen_len_dist;
  int64_t num_prompts = 2000;
  std::string refill = "on";
  int64_t capacity = 0;
  bool asked() const { return !prompt_len_dist.empty() || !gen_len_dist.empty(); }
};

// bench over sequences of drawn lengths, run as one job with or without refill.
void run_uneven_bench(const RunConfig& config, const UnevenFlags& u, bool warmup) {
  ALISA_CHECK(u.num_prompts >= 1, "bench: --num-prompts must be at least 1, got ", u.num_prompts);
  ALISA_CHECK(u.capacity >= 0, "bench: --capacity must not be negative, got ", u.capacity);
  const auto dist = [](const std::string& text, std::optional<int64_t> fixed, int64_t fallback,
                       const char* what) {
    return parse_length_distribution(text.empty() ? std::to_string(fixed.value_or(fallback)) : text,
                                     what);
  };
  const LengthDistribution prompt_len =
      dist(u.prompt_len_dist, config.prompt_len, 512, "--prompt-len-dist");
  const LengthDistribution gen_len = dist(u.gen_len_dist, config.gen_len, 32, "--gen-len-dist");
  const uint64_t seed = config.seed.value_or(0);
  StreamWorkload workload{.sequences = draw_job_lengths(prompt_len, gen_len, u.num_prompts, seed),
                          .batch_size = config.batch_size.value_or(1),
                          .capacity = u.capacity,
                          .refill = u.refill == "on",
                          .seed = seed,
                          .warmup = warmup};
  std::optional<AutoWorkload> job;
  if (config.policy == "auto") {
    const SequenceLengths longest = longest_lengths(workload.sequences);
    job =
        AutoWorkload{.workload = {.prompt_len = longest.prompt_len, .gen_len = longest.gen_len},
                     .sequences = u.num_prompts,
                     .job = JobWorkload{.sequences = workload.sequences, .refill = workload.refill},
                     .job_capacity = &workload.capacity};
  }
  const EngineOptions options = engine_options(config, job);
  if (options.policy) {
    ALISA_CHECK(!config.batch_size || config.policy == "auto",
                "bench: with a policy the batch is its block (gpu_batch_size * ",
                "num_gpu_batches); drop --batch-size");
    workload.batch_size = options.policy->block_size();
  }
  Engine engine(options);
  const StreamBenchResult result = run_stream_bench(engine, workload);
  nlohmann::json settings = settings_json(config, options);
  settings["prompt_len_dist"] = length_distribution_text(prompt_len);
  settings["gen_len_dist"] = length_distribution_text(gen_len);
  settings["seed"] = seed;
  const nlohmann::json report = stream_bench_report(engine, workload, result, settings);
  std::cout << report.dump(2) << std::endl;
  if (config.output) {
    JsonlWriter writer(*config.output);
    writer.write(report);
    writer.close();
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  auto warmup = std::make_shared<bool>(true);
  auto batch_sizes = std::make_shared<std::vector<int64_t>>();
  auto trace = std::make_shared<std::string>();
  RunConfig& o = flags->overrides;
  CLI::App* cmd =
      app.add_subcommand("bench", "Time a synthetic generation workload and print one JSON object");
  add_engine_flags(cmd, *flags);
  add_override(cmd, "--prompt-len", o.prompt_len, "Prompt tokens per sequence (512)");
  add_override(cmd, "--gen-len", o.gen_len, "Generated tokens per sequence (32)");
  add_override(cmd, "--batch-size", o.batch_size, "Sequences (1)");
  cmd->add_option("--batch-sizes", *batch_sizes,
                  "Several batch sizes, one run each on one loaded model (e.g. 1,8,32); one JSON "
                  "object per line")
      ->delimiter(',')
      ->check(at_least_one());
  add_override(cmd, "--seed", o.seed, "Seed of the random prompts (0)");
  add_override(cmd, "--output", o.output, "Also write the JSON to this file");
  cmd->add_option("--trace", *trace,
                  "Write a Chrome trace (chrome://tracing, Perfetto) of the timed run's schedule");
  cmd->add_flag_callback(
      "--no-warmup", [warmup] { *warmup = false; }, "Time the first run (default: warm up first)");
  auto uneven = std::make_shared<UnevenFlags>();
  cmd->add_option("--prompt-len-dist", uneven->prompt_len_dist,
                  "An uneven workload's prompt lengths: N, uniform:min=A,max=B or "
                  "lognormal:median=M,max=X[,sigma=S][,min=Y] (default --prompt-len); with it or "
                  "--gen-len-dist, bench runs --num-prompts sequences as one job");
  cmd->add_option("--gen-len-dist", uneven->gen_len_dist,
                  "An uneven workload's generation lengths, as --prompt-len-dist (default "
                  "--gen-len); each sequence stops at its drawn length");
  cmd->add_option("--num-prompts", uneven->num_prompts, "An uneven workload's sequences (2000)");
  cmd->add_option("--refill", uneven->refill,
                  "An uneven workload's schedule: on (continuous batching: a finished "
                  "sequence's row takes the next prompt) or off (blocks run to their longest "
                  "sequence) (on)")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--capacity", uneven->capacity,
                  "An uneven workload's cache positions per row (default: the plan's with "
                  "--policy auto, else longest prompt + longest generation)");
  cmd->callback([flags, warmup, batch_sizes, trace, uneven] {
    const RunConfig config = resolve_run_config(*flags);
    if (uneven->asked()) {
      ALISA_CHECK(batch_sizes->empty() && trace->empty(),
                  "bench: an uneven workload takes neither --batch-sizes nor --trace");
      run_uneven_bench(config, *uneven, *warmup);
      return;
    }
    const int64_t prompt_len = config.prompt_len.value_or(512);
    const int64_t gen_len = config.gen_len.value_or(32);
    const bool auto_policy = config.policy == "auto";
    std::optional<AutoWorkload> job;
    if (auto_policy) {
      ALISA_CHECK(batch_sizes->empty(), "bench: --policy auto chooses the block; --batch-size ",
                  "caps it, --batch-sizes is not taken");
      job = AutoWorkload{.workload = {.prompt_len = prompt_len, .gen_len = gen_len},
                         .sequences = config.batch_size.value_or(0)};
    }
    EngineOptions options = engine_options(config, job);
    options.keep_trace_spans = !trace->empty();
    std::vector<int64_t> sizes = *batch_sizes;
    if (options.policy) {
      // The policy fixes the block: gpu_batch_size * num_gpu_batches sequences.
      ALISA_CHECK(sizes.empty() && (!config.batch_size || auto_policy),
                  "bench: with a policy the batch is its block (gpu_batch_size * ",
                  "num_gpu_batches); drop --batch-size(s)");
      sizes.push_back(options.policy->block_size());
    }
    if (sizes.empty()) sizes.push_back(config.batch_size.value_or(1));
    ALISA_CHECK(trace->empty() || sizes.size() == 1, "bench: --trace takes one batch size");
    Engine engine(options);
    std::optional<JsonlWriter> writer;
    if (config.output) writer.emplace(*config.output);
    for (const int64_t batch_size : sizes) {
      const BenchWorkload workload{.prompt_len = prompt_len,
                                   .gen_len = gen_len,
                                   .batch_size = batch_size,
                                   .seed = config.seed.value_or(0),
                                   .warmup = *warmup};
      const BenchResult result = run_bench(engine, workload);
      const nlohmann::json report =
          bench_report(engine, workload, result, settings_json(config, options));
      std::cout << (sizes.size() == 1 ? report.dump(2) : report.dump()) << std::endl;
      if (writer) writer->write(report);
      if (!trace->empty()) write_json_file(*trace, result.trace);
    }
    if (writer) writer->close();
  });
}

}  // namespace alisa::cli
