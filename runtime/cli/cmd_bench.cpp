#include <fstream>
#include <iostream>

#include "runtime/cli/commands.h"
#include "runtime/cli/run_flags.h"
#include "runtime/jobs/bench.h"
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
  cmd->callback([flags, warmup, batch_sizes, trace] {
    const RunConfig config = resolve_run_config(*flags);
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
