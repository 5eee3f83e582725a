// alisa plan: the policy solver's choice (or the cost model's prediction for a given policy) for
// a model, a workload, memory caps and a calibrated machine, as a policy YAML.
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <map>

#include "runtime/cli/commands.h"
#include "runtime/cli/run_flags.h"
#include "runtime/jobs/plan_report.h"

namespace alisa::cli {
namespace {

// "prompt_len=128,gen_len=512[,sequences=1000]".
AutoWorkload parse_workload(const std::string& text) {
  const std::string expected =
      "--workload: expected prompt_len=N,gen_len=N[,sequences=N], got '" + text + "'";
  std::map<std::string, int64_t> values;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    ALISA_CHECK(eq != std::string::npos, expected);
    const std::string key = item.substr(0, eq);
    ALISA_CHECK(key == "prompt_len" || key == "gen_len" || key == "sequences", expected,
                " (unknown key '", key, "')");
    size_t used = 0;
    int64_t value = 0;
    try {
      value = std::stoll(item.substr(eq + 1), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ALISA_CHECK(used > 0 && used == item.size() - eq - 1 && value >= (key == "sequences" ? 0 : 1),
                expected, " ('", key, "' must be a positive integer)");
    ALISA_CHECK(values.emplace(key, value).second, expected, " ('", key, "' given twice)");
    start = end + 1;
  }
  ALISA_CHECK(values.count("prompt_len") && values.count("gen_len"), expected);
  return {.workload = {.prompt_len = values["prompt_len"], .gen_len = values["gen_len"]},
          .sequences = values.count("sequences") ? values["sequences"] : 0};
}

void run_plan(const RunFlags& flags, const std::string& workload_text, const std::string& output,
              bool json) {
  const RunConfig config = resolve_run_config(flags);
  AutoWorkload job;
  if (!workload_text.empty()) {
    job = parse_workload(workload_text);
  } else {
    ALISA_CHECK(config.prompt_len && config.gen_len, "plan: no workload (--workload ",
                "prompt_len=N,gen_len=N[,sequences=N], or prompt_len and gen_len in the config)");
    job = {.workload = {.prompt_len = *config.prompt_len, .gen_len = *config.gen_len},
           .sequences = config.batch_size.value_or(0)};
  }
  ALISA_CHECK(config.hardware, "plan: no hardware profile (--hardware configs/hardware/NAME.yaml, ",
              "written by alisa calibrate)");
  const PlanRequest request{.model = *config.model,
                            .workload = job.workload,
                            .max_sequences = job.sequences,
                            .swa = swa_options(config, "the --swa-* flags"),
                            .hardware = *config.hardware,
                            .gpu_memory_limit = config.gpu_memory_limit.value_or(0),
                            .cpu_memory_limit = config.cpu_memory_limit.value_or(0),
                            .threads = config.threads.value_or(0),
                            .allow_compression = config.allow_compression.value_or(false)};
  // A given policy is predicted rather than chosen.
  const bool given = config.policy && *config.policy != "auto";
  const SolvedPolicy solved =
      given ? explain_policy(request, load_policy(*config.policy)) : plan_policy(request);
  const std::string yaml = plan_yaml(request, solved, given ? *config.policy : "");
  if (!output.empty()) {
    std::ofstream out(output);
    out << yaml;
    out.close();
    ALISA_CHECK(out.good(), "plan: cannot write '", output, "'");
  }
  if (json) {
    std::cout << plan_json(solved, yaml).dump(2) << std::endl;
  } else {
    std::cout << yaml;
  }
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  auto workload = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "plan",
      "Choose the policy for a job with the cost model and solver (or, with --policy "
      "FILE, predict that policy) and print it as YAML");
  add_engine_flags(cmd, *flags);
  cmd->add_option("--workload", *workload,
                  "prompt_len=N,gen_len=N[,sequences=N]: the padded prompt, the tokens generated "
                  "per sequence, the job's sequences (default: the config's prompt_len, gen_len, "
                  "batch_size)");
  cmd->add_option("--output", *output, "Also write the policy YAML to this file");
  cmd->add_flag("--json", *json, "Print the policy, prediction and limits as JSON");
  cmd->callback([flags, workload, output, json] { run_plan(*flags, *workload, *output, *json); });
}

}  // namespace alisa::cli
