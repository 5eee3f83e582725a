#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "policy/policy.h"
#include "runtime/base/input_files.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/job_progress.h"
#include "runtime/cli/run_flags.h"
#include "runtime/jobs/batch_job.h"
#include "runtime/jobs/engine.h"
#include "runtime/jobs/job_settings.h"
#include "runtime/jobs/run_config.h"

namespace alisa::cli {
namespace {

using Json = nlohmann::json;

// generate's own flags, beside the run YAML's.
struct JobFlags {
  bool overwrite = false;
  std::optional<std::string> shard;
  double log_interval_s = 30;
  std::optional<std::string> metrics;
};

// Set by SIGINT and SIGTERM: the job stops after the step in hand.
std::atomic<int> g_signal{0};

// SIGINT and SIGTERM, blocked in this thread and every thread made after it (the engine's TBB and
// OpenMP workers), and taken by one watcher thread with sigwait. A handler would run on whichever
// thread the signal lands on, and oneDNN's JIT kernels point the stack pointer into heap buffers
// while they run: a signal frame pushed there corrupted the heap. Made before the engine.
class SignalWatcher {
 public:
  SignalWatcher() {
    g_signal.store(0);
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);  // the destructor's wake-up
    ALISA_CHECK(pthread_sigmask(SIG_BLOCK, &set_, &old_) == 0, "cannot block SIGINT and SIGTERM");
    thread_ = std::thread([this] {
      int signal = 0;
      while (sigwait(&set_, &signal) == 0) {
        if (signal == SIGUSR1) {
          if (done_.load()) return;
          continue;
        }
        g_signal.store(signal);
      }
    });
  }
  ~SignalWatcher() {
    done_.store(true);
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  sigset_t set_ = {};
  sigset_t old_ = {};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

GenerationOptions generation_options(const RunConfig& c) {
  GenerationOptions o;
  o.max_new_tokens = c.max_new_tokens.value_or(32);
  o.sampling.temperature = c.temperature.value_or(0.0f);
  o.sampling.top_p = c.top_p.value_or(1.0f);
  o.sampling.top_k = c.top_k.value_or(0);
  o.seed = c.seed.value_or(0);
  o.batch_size = c.batch_size.value_or(8);
  o.stop_at_eos = c.stop_at_eos.value_or(true);
  ALISA_CHECK(o.max_new_tokens >= 1, "max_new_tokens must be at least 1, got ", o.max_new_tokens);
  ALISA_CHECK(o.batch_size >= 1, "batch_size must be at least 1, got ", o.batch_size);
  ALISA_CHECK(o.sampling.temperature >= 0, "temperature must be >= 0 (0 is greedy), got ",
              o.sampling.temperature);
  ALISA_CHECK(o.sampling.top_p > 0 && o.sampling.top_p <= 1, "top_p must be in (0, 1], got ",
              o.sampling.top_p);
  ALISA_CHECK(o.sampling.top_k >= 0, "top_k must be >= 0 (0 is off), got ", o.sampling.top_k);
  return o;
}

template <typename T>
Json optional_json(const std::optional<T>& value) {
  return value ? Json(*value) : Json();
}

// A float as the decimal a person wrote (0.8, not 0.800000011920929).
double decimal(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.7g", static_cast<double>(value));
  return std::strtod(text, nullptr);
}

// What the job's lines depend on (docs/JOBS.md): a resume must match it.
Json job_settings(const RunConfig& c, const GenerationOptions& o, const std::string& shard) {
  return {{"model", *c.model},
          {"prompts", *c.prompts},
          {"tokenizer", optional_json(c.tokenizer)},
          {"dummy_seed", optional_json(c.dummy_seed)},
          {"max_new_tokens", o.max_new_tokens},
          {"temperature", decimal(o.sampling.temperature)},
          {"top_p", decimal(o.sampling.top_p)},
          {"top_k", o.sampling.top_k},
          {"seed", o.seed},
          {"stop_at_eos", o.stop_at_eos},
          {"policy", optional_json(c.policy)},
          {"swa",
           {{"sparsity", optional_json(c.swa_sparsity)},
            {"window_max", optional_json(c.swa_window_max)},
            {"granularity", optional_json(c.swa_granularity)},
            {"score", optional_json(c.swa_score)},
            {"min_tokens", optional_json(c.swa_min_tokens)},
            {"gamma", optional_json(c.swa_gamma)}}},
          {"shard", shard}};
}

// The name OpenAI records give the model when a line names none: a checkpoint folder's name, or
// dummy:NAME.
std::string model_name(const std::string& model) {
  const std::filesystem::path path = std::filesystem::path(model).lexically_normal();
  return path.has_filename() ? path.filename().string() : path.parent_path().filename().string();
}

int64_t peak_rss_bytes() {
  struct rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

void run_generate(const RunFlags& flags, const JobFlags& job_flags) {
  const SignalWatcher signals;
  const RunConfig config = resolve_run_config(flags);
  ALISA_CHECK(config.prompts, "no prompts given (--prompts FILE or 'prompts' in the config)");
  const GenerationOptions options = generation_options(config);
  const Shard shard = job_flags.shard ? parse_shard(*job_flags.shard) : Shard{};
  ALISA_CHECK(job_flags.log_interval_s >= 0, "--log-interval must be >= 0 seconds");
  // Every path is checked before the model loads, so that no work is lost to a bad one.
  check_regular_file(*config.prompts, "prompts file");
  const std::filesystem::path out_path = config.output.value_or("");
  const bool to_file = !out_path.empty() && out_path != "-";
  if (to_file) {
    ALISA_CHECK(!same_file(out_path, *config.prompts), "--output ", out_path.string(),
                " is the prompts file ", *config.prompts, ": the job would overwrite its input");
    check_output_path(out_path, "output");
  }
  if (job_flags.metrics) {
    ALISA_CHECK(!same_file(*job_flags.metrics, *config.prompts), "--metrics ", *job_flags.metrics,
                " is the prompts file");
    ALISA_CHECK(!to_file || !same_file(*job_flags.metrics, out_path), "--metrics ",
                *job_flags.metrics, " is the output file");
    check_output_path(*job_flags.metrics, "metrics file");
  }

  std::optional<Tokenizer> tokenizer;
  const std::filesystem::path own_tokenizer =
      std::filesystem::path(config.model.value_or("")) / "tokenizer.json";
  if (config.tokenizer) {
    tokenizer = Tokenizer::load(*config.tokenizer);
  } else if (config.model && std::filesystem::is_regular_file(own_tokenizer)) {
    tokenizer = Tokenizer::load(own_tokenizer);
  }
  // The model's shape checks the lines before it loads; `policy: auto` plans for their lengths.
  const ModelSpec spec = open_model_spec(config.model.value_or(""));
  const BatchJob job(*config.prompts, shard,
                     {.max_new_tokens = options.max_new_tokens,
                      .sampling = options.sampling,
                      .seed = options.seed,
                      .stop_at_eos = options.stop_at_eos},
                     tokenizer ? &*tokenizer : nullptr, spec);
  const JobScan scan = job.scan();
  // A shard may be empty (more shards than lines); a whole job may not.
  ALISA_CHECK(scan.lines > 0 || shard.count > 1, *config.prompts, ": no prompts");

  const bool resume = to_file && !job_flags.overwrite && std::filesystem::exists(out_path);
  WrittenRecords written;
  int64_t created = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  if (to_file) {
    created = record_settings(
        out_path, job_settings(config, options, str(shard.index, "/", shard.count)), resume);
    if (resume) {
      written = scan_output(out_path);
      spdlog::info("resuming {}: {} records there{}", out_path.string(), written.lines,
                   written.repaired_bytes > 0 ? ", a torn last line cut off" : "");
    }
  }
  const int64_t n_written = written.lines;

  std::unique_ptr<Engine> engine;
  std::unique_ptr<Generator> generator;
  std::optional<Policy> policy;
  if (scan.good > 0) {
    const auto load_start = std::chrono::steady_clock::now();
    const AutoWorkload workload{
        .workload = {.prompt_len = scan.longest_prompt, .gen_len = scan.max_new_tokens},
        .sequences = scan.good};
    const EngineOptions engine_opts = engine_options(config, workload);
    policy = engine_opts.policy;
    engine = std::make_unique<Engine>(engine_opts);
    const double n_parameters = static_cast<double>(engine->spec().n_parameters());
    spdlog::info(
        "loaded {} ({:.2f}{} parameters) on the {} in {:.1f} s", engine->spec().name,
        n_parameters >= 1e9 ? n_parameters / 1e9 : n_parameters / 1e6,
        n_parameters >= 1e9 ? "B" : "M", engine->device().name(),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count());
    generator = std::make_unique<Generator>(
        *engine, std::min(engine->block_size_for(options.batch_size), scan.good),
        scan.longest_prompt, scan.max_new_tokens, 0, job.refill());
  }

  JobOutput output(out_path, resume);
  const RecordContext context{.format = JobReader(*config.prompts, shard).format(),
                              .model = model_name(*config.model),
                              .created = created,
                              .tokenizer = tokenizer ? &*tokenizer : nullptr};
  JobProgress progress(std::max<int64_t>(scan.lines - n_written, 0), job_flags.log_interval_s);
  JobCounts counts;
  bool whole = false;
  {
    whole = job.run(generator.get(), output, std::move(written), context,
                    std::max<int64_t>(1024, generator ? 16 * generator->block_size() : 0),
                    {.progress = [&](const JobCounts& c) { progress.update(c); },
                     .cancelled = [] { return g_signal.load() != 0; }},
                    counts);
  }
  output.sync();
  progress.finish(counts);
  const double seconds = progress.seconds();

  if (job_flags.metrics) {
    Json memory = {{"process_peak_rss", peak_rss_bytes()}};
    if (engine) {
      memory["compute_tier_peak"] = engine->device().peak_bytes();
      memory["cpu_tier_peak"] = engine->cpu_tier().peak_bytes();
    }
    const Json metrics = {
        {"prompts", scan.lines},
        {"skipped", counts.skipped},
        {"completed", counts.completed},
        {"errors", counts.errors},
        {"tokens_in", counts.tokens_in},
        {"tokens_out", counts.tokens_out},
        {"wall_s", seconds},
        {"tokens_per_s", seconds > 0 ? static_cast<double>(counts.tokens_out) / seconds : 0.0},
        {"interrupted", !whole},
        {"schedule",
         {{"refill", counts.schedule.refill},
          {"blocks", counts.schedule.blocks},
          {"refills", counts.schedule.refills},
          {"decode_steps", counts.schedule.decode_steps},
          {"idle_share", counts.schedule.idle_share()}}},
        {"memory_bytes", memory},
        {"policy", policy ? Json(policy_to_yaml(*policy)) : Json()}};
    std::ofstream out(*job_flags.metrics, std::ios::trunc);
    out << metrics.dump(2) << "\n";
    out.flush();
    ALISA_CHECK(out.good(), "cannot write ", *job_flags.metrics, ": ", errno_text(errno));
  }
  if (!whole) {
    throw Error(str("interrupted by ", g_signal.load() == SIGINT ? "SIGINT" : "SIGTERM", " after ",
                    counts.completed + counts.errors, " new records",
                    to_file ? str(" (", n_written + counts.completed + counts.errors, " in ",
                                  out_path.string(), "): run the same command again to resume")
                            : ": the output went to stdout, so give --output FILE to resume"));
  }
  if (counts.errors > 0 && counts.completed == 0 && counts.skipped == 0) {
    throw Error(str("every line of ", *config.prompts, " is bad (", counts.errors,
                    " error records); the first: ", counts.first_error));
  }
  if (counts.errors > 0) {
    spdlog::warn("{} of {} lines were bad and have error records{}; the first: {}", counts.errors,
                 scan.lines, to_file ? " in " + out_path.string() : "", counts.first_error);
  }
  spdlog::info(
      "generated {} tokens for {} prompts in {:.2f} s ({:.1f} tok/s); {} skipped as "
      "done before",
      counts.tokens_out, counts.completed, seconds,
      seconds > 0 ? static_cast<double>(counts.tokens_out) / seconds : 0.0, counts.skipped);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  auto job = std::make_shared<JobFlags>();
  RunConfig& o = flags->overrides;
  CLI::App* cmd = app.add_subcommand("generate",
                                     "Generate completions for a JSONL file of prompts (a batch "
                                     "job: streamed, resumable; docs/JOBS.md)");
  add_engine_flags(cmd, *flags);
  add_override(cmd, "--prompts", o.prompts,
               "JSONL of {\"id\", \"prompt\" | \"prompt_ids\", settings} or OpenAI Batch lines");
  add_override(cmd, "--output", o.output,
               "JSONL to write, or to resume when it exists (default: stdout)");
  add_override(cmd, "--tokenizer", o.tokenizer, "tokenizer.json (default: the checkpoint's own)");
  add_override(cmd, "--max-new-tokens", o.max_new_tokens, "Tokens to generate (32)");
  add_override(cmd, "--temperature", o.temperature, "Sampling temperature; 0 is greedy (0)");
  add_override(cmd, "--top-p", o.top_p, "Nucleus sampling mass (1: off)");
  add_override(cmd, "--top-k", o.top_k, "Sample among the k likeliest (0: off)");
  add_override(cmd, "--seed", o.seed, "Sampling seed (0)");
  add_override(cmd, "--batch-size", o.batch_size, "Sequences per batch (8)");
  cmd->add_flag_callback(
      "--ignore-eos", [&o] { o.stop_at_eos = false; }, "Always generate max-new-tokens tokens");
  cmd->add_flag("--overwrite", job->overwrite, "Start over even when --output exists");
  cmd->add_option("--shard", job->shard, "K/N: run lines K, K + N, K + 2N, ... of the job");
  cmd->add_option("--log-interval", job->log_interval_s,
                  "Seconds between progress lines when stderr is not a terminal (30; 0: none)");
  cmd->add_option("--metrics", job->metrics, "JSON summary of the job to write at its end");
  cmd->callback([flags, job] { run_generate(*flags, *job); });
}

}  // namespace alisa::cli
