#include <spdlog/spdlog.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "runtime/base/units.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/run_flags.h"
#include "runtime/jobs/engine.h"
#include "runtime/jobs/job_io.h"
#include "runtime/jobs/run_config.h"

namespace alisa::cli {
namespace {

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

void run_generate(const RunFlags& flags) {
  const RunConfig config = resolve_run_config(flags);
  ALISA_CHECK(config.prompts, "no prompts given (--prompts FILE or 'prompts' in the config)");
  const GenerationOptions options = generation_options(config);
  const std::vector<PromptRecord> records = read_prompts(*config.prompts);

  // Prompts are tokenised before the model loads: `policy: auto` plans for their lengths.
  std::optional<Tokenizer> tokenizer;
  const std::filesystem::path own_tokenizer =
      std::filesystem::path(*config.model) / "tokenizer.json";
  if (config.tokenizer) {
    tokenizer = Tokenizer::load(*config.tokenizer);
  } else if (std::filesystem::is_regular_file(own_tokenizer)) {
    tokenizer = Tokenizer::load(own_tokenizer);
  }
  std::vector<Prompt> prompts;
  std::vector<std::string> places;
  int64_t longest = 1;
  for (size_t i = 0; i < records.size(); ++i) {
    const PromptRecord& record = records[i];
    places.push_back(str(*config.prompts, ":", record.line));
    Prompt prompt;
    prompt.index = i;
    if (record.ids) {
      prompt.token_ids = *record.ids;
    } else {
      ALISA_CHECK(tokenizer, places.back(),
                  ": the prompt is text but the model has no tokenizer.json (give prompt_ids, or "
                  "--tokenizer FILE)");
      prompt.token_ids = tokenizer->encode(*record.text, /*add_special_tokens=*/true);
    }
    longest = std::max(longest, static_cast<int64_t>(prompt.token_ids.size()));
    prompts.push_back(std::move(prompt));
  }

  const auto load_start = std::chrono::steady_clock::now();
  const AutoWorkload job{.workload = {.prompt_len = longest, .gen_len = options.max_new_tokens},
                         .sequences = static_cast<int64_t>(prompts.size())};
  Engine engine(engine_options(config, job));
  const double n_parameters = static_cast<double>(engine.spec().n_parameters());
  spdlog::info(
      "loaded {} ({:.2f}{} parameters) on the {} in {:.1f} s", engine.spec().name,
      n_parameters >= 1e9 ? n_parameters / 1e9 : n_parameters / 1e6,
      n_parameters >= 1e9 ? "B" : "M", engine.device().name(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count());
  for (size_t i = 0; i < prompts.size(); ++i) {
    engine.validate_prompt(prompts[i].token_ids, options.max_new_tokens, places[i]);
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
    if (tokenizer) line["text"] = tokenizer->decode(outputs[i], /*skip_special_tokens=*/true);
    writer.write(line);
    n_generated += static_cast<int64_t>(outputs[i].size());
  }
  writer.close();
  spdlog::info("generated {} tokens for {} prompts in {:.2f} s ({:.1f} tok/s)", n_generated,
               records.size(), seconds, seconds > 0 ? n_generated / seconds : 0.0);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  RunConfig& o = flags->overrides;
  CLI::App* cmd =
      app.add_subcommand("generate", "Generate completions for a JSONL file of prompts");
  add_engine_flags(cmd, *flags);
  add_override(cmd, "--prompts", o.prompts,
               "JSONL of {\"id\", \"prompt\"} or {\"id\", \"prompt_ids\"}");
  add_override(cmd, "--output", o.output, "JSONL to write (default: stdout)");
  add_override(cmd, "--tokenizer", o.tokenizer, "tokenizer.json (default: the checkpoint's own)");
  add_override(cmd, "--max-new-tokens", o.max_new_tokens, "Tokens to generate (32)");
  add_override(cmd, "--temperature", o.temperature, "Sampling temperature; 0 is greedy (0)");
  add_override(cmd, "--top-p", o.top_p, "Nucleus sampling mass (1: off)");
  add_override(cmd, "--top-k", o.top_k, "Sample among the k likeliest (0: off)");
  add_override(cmd, "--seed", o.seed, "Sampling seed (0)");
  add_override(cmd, "--batch-size", o.batch_size, "Sequences per batch (8)");
  cmd->add_flag_callback(
      "--ignore-eos", [&o] { o.stop_at_eos = false; }, "Always generate max-new-tokens tokens");
  cmd->callback([flags] { run_generate(*flags); });
}

}  // namespace alisa::cli
