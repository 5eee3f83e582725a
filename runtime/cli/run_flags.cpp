#include "runtime/cli/run_flags.h"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "runtime/jobs/auto_policy.h"

namespace alisa::cli {
namespace {

Policy auto_policy(const RunConfig& config, const EngineOptions& options,
                   const std::optional<AutoWorkload>& workload) {
  ALISA_CHECK(workload, "policy: auto plans for generate and bench (they know the job); give ",
              "this command a policy file");
  ALISA_CHECK(config.hardware, "policy: auto needs a hardware profile: --hardware ",
              "configs/hardware/NAME.yaml or 'hardware' in the run YAML (alisa calibrate writes ",
              "one)");
  const DType activation_dtype =
      uses_gpu(options.backend)
          ? gpu_compute_dtype(options.backend.gpu_dtype, open_model_spec(options.model).torch_dtype)
          : DType::kF32;
  const SolvedPolicy solved =
      plan_policy({.model = options.model,
                   .workload = workload->workload,
                   .max_sequences = workload->sequences,
                   .swa = options.swa,
                   .hardware = *config.hardware,
                   .gpu_memory_limit = config.gpu_memory_limit.value_or(0),
                   .cpu_memory_limit = config.cpu_memory_limit.value_or(0),
                   .threads = config.threads.value_or(0),
                   .allow_compression = config.allow_compression.value_or(false),
                   .activation_dtype = activation_dtype,
                   .job = workload->job,
                   .job_capacity = workload->job_capacity ? *workload->job_capacity : 0});
  if (workload->job_capacity && solved.prediction.job) {
    *workload->job_capacity = solved.prediction.job->capacity;
  }
  std::fprintf(stderr, "alisa: policy auto: %s\n", solved_policy_summary(solved).c_str());
  for (const std::string& line : solved.limits) spdlog::info("policy auto: {}", line);
  return solved.policy;
}

}  // namespace

CLI::Option* add_byte_size_override(CLI::App* cmd, const std::string& name,
                                    std::optional<uint64_t>& field, const std::string& help) {
  return cmd->add_option_function<std::string>(
      name, [&field, name](const std::string& text) { field = parse_byte_size(text, name); }, help);
}

void add_engine_flags(CLI::App* cmd, RunFlags& flags) {
  RunConfig& o = flags.overrides;
  cmd->add_option("--config", flags.config, "Run YAML; flags override its settings");
  add_override(cmd, "--model", o.model, "Checkpoint folder or dummy:NAME");
  add_override(cmd, "--device", o.device, "cpu, gpu, or auto: the GPU when one is present (auto)")
      ->check(CLI::IsMember({"cpu", "gpu", "auto"}));
  add_override(cmd, "--dtype", o.dtype,
               "What the GPU engine computes in: f16, bf16, or auto: bf16 for checkpoints saved "
               "in bfloat16, f16 otherwise (auto); the CPU engine computes in float32")
      ->check(CLI::IsMember({"f16", "bf16", "auto"}));
  add_byte_size_override(cmd, "--gpu-memory-limit", o.gpu_memory_limit,
                         "Cap on GPU memory, e.g. 14.5GiB (default: all free); on --device cpu, "
                         "the cap of the compute arena that stands in for the GPU");
  add_byte_size_override(cmd, "--cpu-memory-limit", o.cpu_memory_limit,
                         "Cap on memory of the CPU device, or on GPU runs of the pinned CPU tier, "
                         "e.g. 16GiB (default: none)");
  add_override(cmd, "--threads", o.threads, "CPU threads (default: all cores)");
  add_override(cmd, "--dummy-seed", o.dummy_seed, "Seed of dummy weights (1234)");
  add_override(cmd, "--policy", o.policy,
               "Offloading policy YAML (configs/policies/) for generate and bench; perplexity "
               "takes only all-resident ones; auto: chosen by the policy solver for the job "
               "(default: all on the compute device)");
  add_override(cmd, "--hardware", o.hardware,
               "Calibrated hardware profile (alisa calibrate) for --policy auto");
  cmd->add_flag_callback(
      "--allow-compression", [&o] { o.allow_compression = true; },
      "--policy auto may compress weights (int4) and the cache (int8)");
  add_override(cmd, "--offload-dir", o.offload_dir,
               "Folder of the disk tier (default: <temp>/alisa-offload)");
  add_swa_flags(cmd, o);
}

void add_swa_flags(CLI::App* cmd, RunConfig& o) {
  add_override(cmd, "--swa-sparsity", o.swa_sparsity,
               "Sparse Window Attention: fraction of past tokens not attended in decode steps, "
               "in [0, 1) (default 0: dense)");
  add_override(cmd, "--swa-window-max", o.swa_window_max,
               "SWA: decoding steps the attention score sums, at most (32)");
  add_override(cmd, "--swa-granularity", o.swa_granularity,
               "SWA: one token set per layer or per head (layer)")
      ->check(CLI::IsMember({"layer", "head"}));
  add_override(cmd, "--swa-score", o.swa_score,
               "SWA: window (recent attention sum), decay, or the baselines history (H2O-like) "
               "and recent (local window only) (window)")
      ->check(CLI::IsMember({"window", "decay", "history", "recent"}));
  add_override(cmd, "--swa-min-tokens", o.swa_min_tokens,
               "SWA: fewest tokens attended; shorter sequences are dense (16)");
  add_override(cmd, "--swa-gamma", o.swa_gamma, "SWA: decay factor of --swa-score decay (0.95)");
}

RunConfig resolve_run_config(const RunFlags& flags) {
  check_run_config(flags.overrides, "", flag_setting_name);
  RunConfig config = flags.config.empty() ? RunConfig{} : load_run_config(flags.config);
  config.merge(flags.overrides);
  ALISA_CHECK(config.model, "no model given (--model DIR|dummy:NAME or 'model' in the config)");
  return config;
}

EngineOptions engine_options(const RunConfig& config, const std::optional<AutoWorkload>& workload) {
  EngineOptions options{
      .model = config.model.value_or(""),
      .dummy_seed = config.dummy_seed.value_or(1234),
      .backend = {.device = parse_device_choice(config.device.value_or("auto"), "device"),
                  .n_threads = config.threads.value_or(0),
                  .cpu_memory_limit = config.cpu_memory_limit.value_or(0),
                  .gpu_memory_limit = config.gpu_memory_limit.value_or(0),
                  .gpu_dtype = parse_gpu_dtype_choice(config.dtype.value_or("auto"), "dtype")},
      .offload_dir = config.offload_dir.value_or("")};
  // The run YAML's values were checked when it was read: what fails here is a flag.
  options.swa = swa_options(config, "the --swa-* flags");
  if (config.policy == "auto") {
    options.policy = auto_policy(config, options, workload);
  } else if (config.policy) {
    options.policy = load_policy(*config.policy);
  }
  return options;
}

}  // namespace alisa::cli
