// Flags shared by the commands that run a model (generate, bench, perplexity): each flag, when
// given, overrides the same key of the run YAML (--model, --device, memory caps, --threads,
// --dummy-seed, --policy, --offload-dir).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "policy/cost_model.h"
#include "policy/memory_plan.h"
#include "runtime/base/units.h"
#include "runtime/jobs/engine.h"
#include "runtime/jobs/run_config.h"

namespace alisa::cli {

struct RunFlags {
  std::string config;   // --config RUN.yaml
  RunConfig overrides;  // what the flags set
};

// A flag that sets `field` when given.
template <typename T>
CLI::Option* add_override(CLI::App* cmd, const std::string& name, std::optional<T>& field,
                          const std::string& help) {
  return cmd->add_option_function<T>(
      name, [&field](const T& value) { field = value; }, help);
}

// A flag's check: an integer of at least 1 ("--stride: must be at least 1, got -5").
inline CLI::Validator at_least_one() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          size_t used = 0;
          if (std::stoll(text, &used) >= 1 && used == text.size()) return "";
        } catch (const std::exception&) {
        }
        return "must be an integer of at least 1, got " + text;
      },
      "INT>=1");
}

// A byte-size flag ("14.5GiB") that sets `field` when given.
CLI::Option* add_byte_size_override(CLI::App* cmd, const std::string& name,
                                    std::optional<uint64_t>& field, const std::string& help);

// --config, --model, --device, --gpu-memory-limit, --cpu-memory-limit, --threads, --dummy-seed,
// --policy, --hardware, --allow-compression, --offload-dir and the --swa-* flags.
void add_engine_flags(CLI::App* cmd, RunFlags& flags);
// --swa-sparsity, --swa-window-max, --swa-granularity, --swa-score, --swa-min-tokens, --swa-gamma.
void add_swa_flags(CLI::App* cmd, RunConfig& overrides);

// The run YAML (if any) with the flags applied over it.
RunConfig resolve_run_config(const RunFlags& flags);

// The job `policy: auto` plans for: the padded prompt step, the tokens generated per sequence
// and how many sequences there are (0: no limit on the block).
struct AutoWorkload {
  Workload workload;
  int64_t sequences = 0;
  // A job of uneven lengths, planned over its simulated schedule (`workload` then unread); the
  // plan also chooses the cache positions per row (job_capacity 0) and reports them there.
  std::optional<JobWorkload> job = std::nullopt;
  int64_t* job_capacity = nullptr;
};

// With `policy: auto`, the solver's policy for `workload` on the config's hardware profile
// (commands that run no such job pass none, and auto is refused).
EngineOptions engine_options(const RunConfig& config,
                             const std::optional<AutoWorkload>& workload = std::nullopt);

}  // namespace alisa::cli
