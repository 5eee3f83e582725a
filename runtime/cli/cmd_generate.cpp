#include <spdlog/spdlog.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>

#include "runtime/cli/commands.h"
#include "runtime/engine.h"
#include "runtime/job_io.h"
#include "runtime/run_config.h"
#include "runtime/units.h"

namespace alisa::cli {
namespace {

struct GenerateFlags {
  std::string config;
  RunConfig overrides;
  // CLI11 binds plain values; each is copied into `overrides` only when given.
  std::string model, prompts, output, tokenizer, device, cpu_memory_limit, gpu_memory_limit;
  int64_t max_new_tokens = 0, batch_size = 0;
  float temperature = 0, top_p = 0;
  int32_t top_k = 0, threads = 0;
  uint64_t seed = 0, dummy_seed = 0;
  bool ignore_eos = false;
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

// "\rgenerated 96/160 tokens, 41.3 tok/s" on a terminal; nothing otherwise.
class Progress {
 public:
  Progress() : enabled_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}
  void update(int64_t done, int64_t total) {
    if (!enabled_) return;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "\rgenerated %lld/%lld tokens, %.1f tok/s   ",
                 static_cast<long long>(done), static_cast<long long>(total),
                 seconds > 0 ? done / seconds : 0.0);
    if (done == total) std::fputc('\n', stderr);
  }

 private:
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
};

void run_generate(const GenerateFlags& flags) {
  RunConfig config = flags.config.empty() ? RunConfig{} : load_run_config(flags.config);
  config.merge(flags.overrides);
  ALISA_CHECK(config.model, "no model given (--model DIR|dummy:NAME or 'model' in the config)");
  ALISA_CHECK(config.prompts, "no prompts given (--prompts FILE or 'prompts' in the config)");
  const GenerationOptions options = generation_options(config);
  const std::vector<PromptRecord> records = read_prompts(*config.prompts);

  const auto load_start = std::chrono::steady_clock::now();
  Engine engine(
      {.model = *config.model,
       .dummy_seed = config.dummy_seed.value_or(1234),
       .backend = {.device = parse_device_choice(config.device.value_or("auto"), "device"),
                   .n_threads = config.threads.value_or(0),
                   .cpu_memory_limit = config.cpu_memory_limit.value_or(0),
                   .gpu_memory_limit = config.gpu_memory_limit.value_or(0)}});
  spdlog::info(
      "loaded {} ({:.2f} B parameters) in {:.1f} s", engine.spec().name,
      engine.spec().n_parameters() / 1e9,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count());
  std::optional<Tokenizer> own_tokenizer;
  if (config.tokenizer) own_tokenizer = Tokenizer::load(*config.tokenizer);
  const Tokenizer* tokenizer = own_tokenizer ? &*own_tokenizer : engine.tokenizer();

  std::vector<Prompt> prompts;
  for (size_t i = 0; i < records.size(); ++i) {
    const PromptRecord& record = records[i];
    const std::string where = str(*config.prompts, ":", record.line);
    Prompt prompt;
    prompt.index = i;
    if (record.ids) {
      prompt.token_ids = *record.ids;
    } else {
      ALISA_CHECK(tokenizer != nullptr, where,
                  ": the prompt is text but the model has no tokenizer.json (give prompt_ids, or "
                  "--tokenizer FILE)");
      prompt.token_ids = tokenizer->encode(*record.text, /*add_special_tokens=*/true);
    }
    engine.validate_prompt(prompt.token_ids, options.max_new_tokens, where);
    prompts.push_back(std::move(prompt));
  }

  Progress progress;
  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::vector<int32_t>> outputs = engine.generate(
      prompts, options, [&](int64_t done, int64_t total) { progress.update(done, total); });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  JsonlWriter writer(config.output.value_or(""));
  int64_t n_generated = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    nlohmann::json line = {{"id", records[i].id}, {"token_ids", outputs[i]}};
    if (tokenizer != nullptr) line["text"] = tokenizer->decode(outputs[i]);
    writer.write(line);
    n_generated += static_cast<int64_t>(outputs[i].size());
  }
  writer.close();
  spdlog::info("generated {} tokens for {} prompts in {:.2f} s ({:.1f} tok/s)", n_generated,
               records.size(), seconds, seconds > 0 ? n_generated / seconds : 0.0);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* cmd =
      app.add_subcommand("generate", "Generate completions for a JSONL file of prompts");
  cmd->add_option("--config", flags->config, "Run YAML; flags override its settings");
  auto* model = cmd->add_option("--model", flags->model, "Checkpoint folder or dummy:NAME");
  auto* prompts = cmd->add_option("--prompts", flags->prompts,
                                  "JSONL of {\"id\", \"prompt\"} or {\"id\", \"prompt_ids\"}");
  auto* output = cmd->add_option("--output", flags->output, "JSONL to write (default: stdout)");
  auto* tokenizer = cmd->add_option("--tokenizer", flags->tokenizer,
                                    "tokenizer.json (default: the checkpoint's own)");
  auto* max_new =
      cmd->add_option("--max-new-tokens", flags->max_new_tokens, "Tokens to generate (32)");
  auto* temperature =
      cmd->add_option("--temperature", flags->temperature, "Sampling temperature; 0 is greedy (0)");
  auto* top_p = cmd->add_option("--top-p", flags->top_p, "Nucleus sampling mass (1: off)");
  auto* top_k = cmd->add_option("--top-k", flags->top_k, "Sample among the k likeliest (0: off)");
  auto* seed = cmd->add_option("--seed", flags->seed, "Sampling seed (0)");
  auto* batch = cmd->add_option("--batch-size", flags->batch_size, "Sequences per batch (8)");
  auto* device = cmd->add_option("--device", flags->device,
                                 "cpu, gpu, or auto: the GPU when one is present (auto)");
  auto* gpu_memory = cmd->add_option("--gpu-memory-limit", flags->gpu_memory_limit,
                                     "Cap on GPU memory, e.g. 14.5GiB (default: all free)");
  auto* threads = cmd->add_option("--threads", flags->threads, "CPU threads (default: all cores)");
  auto* memory = cmd->add_option("--cpu-memory-limit", flags->cpu_memory_limit,
                                 "Cap on CPU memory, e.g. 16GiB (default: none)");
  auto* dummy_seed =
      cmd->add_option("--dummy-seed", flags->dummy_seed, "Seed of dummy weights (1234)");
  auto* ignore_eos =
      cmd->add_flag("--ignore-eos", flags->ignore_eos, "Always generate max-new-tokens tokens");
  cmd->callback([=] {
    RunConfig& o = flags->overrides;
    if (model->count()) o.model = flags->model;
    if (prompts->count()) o.prompts = flags->prompts;
    if (output->count()) o.output = flags->output;
    if (tokenizer->count()) o.tokenizer = flags->tokenizer;
    if (max_new->count()) o.max_new_tokens = flags->max_new_tokens;
    if (temperature->count()) o.temperature = flags->temperature;
    if (top_p->count()) o.top_p = flags->top_p;
    if (top_k->count()) o.top_k = flags->top_k;
    if (seed->count()) o.seed = flags->seed;
    if (batch->count()) o.batch_size = flags->batch_size;
    if (device->count()) o.device = flags->device;
    if (gpu_memory->count())
      o.gpu_memory_limit = parse_byte_size(flags->gpu_memory_limit, "--gpu-memory-limit");
    if (threads->count()) o.threads = flags->threads;
    if (memory->count())
      o.cpu_memory_limit = parse_byte_size(flags->cpu_memory_limit, "--cpu-memory-limit");
    if (dummy_seed->count()) o.dummy_seed = flags->dummy_seed;
    if (ignore_eos->count()) o.stop_at_eos = false;
    run_generate(*flags);
  });
}

}  // namespace alisa::cli
