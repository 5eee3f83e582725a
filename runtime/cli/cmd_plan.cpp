// alisa plan: the policy solver's choice (or the cost model's prediction for a given policy) for
// a model, a workload, memory caps and a calibrated machine, as a policy YAML.
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <map>

#include "policy/workload_spec.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/run_flags.h"
#include "runtime/jobs/length_samples.h"
#include "runtime/jobs/plan_report.h"

namespace alisa::cli {
namespace {

nlohmann::json job_json(const JobPrediction& j) {
  return {{"refill", j.refill},
          {"capacity", j.capacity},
          {"sequences", j.sequences},
          {"generated_tokens", j.generated_tokens},
          {"useful_throughput", j.useful_throughput},
          {"seconds", j.seconds},
          {"idle_share", j.idle_share},
          {"steps", j.prefills + j.decode_steps},
          {"prefills", j.prefills},
          {"decode_steps", j.decode_steps},
          {"lanes", j.lanes},
          {"slot_steps", j.slot_steps},
          {"idle_slot_steps", j.idle_slot_steps}};
}

// The job a --workload or --workload-file describes, or nothing for one block of equal
// sequences.
struct PlannedJob {
  JobWorkload job;
  int64_t capacity = 0;
  std::string description;
};

std::optional<PlannedJob> job_of(const WorkloadSpec* spec, const std::string& file,
                                 const std::string& refill) {
  if (!file.empty()) {
    ALISA_CHECK(refill.empty() || refill == "on" || refill == "off", "--refill: on or off, got '",
                refill, "'");
    return PlannedJob{.job = {.sequences = read_length_samples(file), .refill = refill != "off"},
                      .capacity = 0,
                      .description = str("the lengths of ", file)};
  }
  ALISA_CHECK(refill.empty(), "--refill goes with --workload-file; --workload takes refill=on|off");
  if (!spec || !spec->is_job()) return std::nullopt;
  return PlannedJob{
      .job = {.sequences =
                  draw_job_lengths(spec->prompt_len, spec->gen_len, spec->sequences, spec->seed),
              .refill = spec->refill.value_or(true)},
      .capacity = spec->capacity,
      .description = str("prompt_len ", length_distribution_text(spec->prompt_len), ", gen_len ",
                         length_distribution_text(spec->gen_len), ", seed ", spec->seed)};
}

void run_plan(const RunFlags& flags, const std::string& workload_text,
              const std::string& workload_file, const std::string& refill,
              const std::string& output, bool json) {
  const RunConfig config = resolve_run_config(flags);
  ALISA_CHECK(workload_text.empty() || workload_file.empty(),
              "plan: give --workload or --workload-file, not both");
  std::optional<WorkloadSpec> spec;
  if (!workload_text.empty()) spec = parse_workload_spec(workload_text, "--workload");
  const std::optional<PlannedJob> planned = job_of(spec ? &*spec : nullptr, workload_file, refill);
  AutoWorkload job;
  if (planned) {
    const SequenceLengths longest = longest_lengths(planned->job.sequences);
    job = {.workload = {.prompt_len = longest.prompt_len, .gen_len = longest.gen_len},
           .sequences = static_cast<int64_t>(planned->job.sequences.size())};
  } else if (spec) {
    job = {.workload = {.prompt_len = spec->prompt_len.min, .gen_len = spec->gen_len.min},
           .sequences = spec->sequences};
  } else {
    ALISA_CHECK(config.prompt_len && config.gen_len, "plan: no workload (--workload ",
                "prompt_len=N,gen_len=N[,sequences=N], or prompt_len and gen_len in the config)");
    job = {.workload = {.prompt_len = *config.prompt_len, .gen_len = *config.gen_len},
           .sequences = config.batch_size.value_or(0)};
  }
  ALISA_CHECK(config.hardware, "plan: no hardware profile (--hardware configs/hardware/NAME.yaml, ",
              "written by alisa calibrate)");
  PlanRequest request{.model = *config.model,
                      .workload = job.workload,
                      .max_sequences = job.sequences,
                      .swa = swa_options(config, "the --swa-* flags"),
                      .hardware = *config.hardware,
                      .gpu_memory_limit = config.gpu_memory_limit.value_or(0),
                      .cpu_memory_limit = config.cpu_memory_limit.value_or(0),
                      .threads = config.threads.value_or(0),
                      .allow_compression = config.allow_compression.value_or(false)};
  const bool given = config.policy && *config.policy != "auto";
  // Predicts the given policy rather than choose one.
  const auto solve = [&](const PlanRequest& r) {
    return given ? explain_policy(r, load_policy(*config.policy)) : plan_policy(r);
  };
  std::string what = given ? str("# the cost model's prediction for ", *config.policy, "\n")
                           : "# chosen by alisa plan (the policy solver)\n";
  std::string workload_line =
      str("prompt_len ", job.workload.prompt_len, ", gen_len ", job.workload.gen_len);
  // A job is planned with refill as asked and also the other way, to compare.
  std::optional<SolvedPolicy> other;
  if (planned) {
    request.job = planned->job;
    request.job_capacity = planned->capacity;
    PlanRequest flipped = request;
    flipped.job->refill = !request.job->refill;
    other = solve(flipped);
    workload_line = str(job.sequences, " sequences of ", planned->description);
    what += str("# ", other->prediction.job->refill ? "with" : "without",
                " refill: ", solved_policy_summary(*other), "\n");
  }
  const SolvedPolicy solved = solve(request);
  const std::string header =
      str(what, "# model ", request.model, ", ", workload_line, ", hardware ",
          request.hardware.string(),
          request.swa.enabled() ? str(", swa sparsity ", request.swa.sparsity) : "", "\n");
  const std::string yaml = solved_policy_yaml(solved, header);
  if (!output.empty()) {
    std::ofstream out(output);
    out << yaml;
    out.close();
    ALISA_CHECK(out.good(), "plan: cannot write '", output, "'");
  }
  if (json) {
    nlohmann::json out{{"policy_yaml", yaml},
                       {"prediction", prediction_json(solved.prediction)},
                       {"limits", solved.limits},
                       {"candidates", solved.candidates}};
    if (solved.prediction.job) {
      out["job"] = job_json(*solved.prediction.job);
      // The best plan the other way, with its own block and capacity.
      nlohmann::json alternative = job_json(*other->prediction.job);
      alternative["policy"] = solved_policy_summary(*other);
      alternative["policy_yaml"] = policy_to_yaml(other->policy);
      out["job_other_refill"] = alternative;
    }
    std::cout << out.dump(2) << std::endl;
  } else {
    std::cout << yaml;
  }
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  auto workload = std::make_shared<std::string>();
  auto workload_file = std::make_shared<std::string>();
  auto refill = std::make_shared<std::string>();
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
                  "batch_size); a job of uneven lengths: prompt_len and gen_len distributions "
                  "(uniform:min=A,max=B, lognormal:median=M,max=X[,sigma=S][,min=Y]) with "
                  "sequences=N[,refill=on|off][,seed=N][,capacity=N] (docs/CONFIGURATION.md)");
  cmd->add_option("--workload-file", *workload_file,
                  "A job's lengths, one JSON line per sequence: {\"prompt_len\": N, \"gen_len\": "
                  "N} or a job line with prompt_ids and max_tokens");
  cmd->add_option("--refill", *refill,
                  "With --workload-file: plan with refill (continuous batching) on or off (on)");
  cmd->add_option("--output", *output, "Also write the policy YAML to this file");
  cmd->add_flag("--json", *json, "Print the policy, prediction and limits as JSON");
  cmd->callback([flags, workload, workload_file, refill, output, json] {
    run_plan(*flags, *workload, *workload_file, *refill, *output, *json);
  });
}

}  // namespace alisa::cli
