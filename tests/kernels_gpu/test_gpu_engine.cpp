// The GPU engine (float16 activations and weights, float32 accumulation) against Hugging Face's
// float32 references and against the CPU engine, on opt-tiny and llama-tiny.
#include <algorithm>
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "runtime/jobs/engine.h"
#include "runtime/jobs/perplexity.h"
#include "tests/e2e/fixture_reference.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

// float16 storage of weights and activations: a few 1e-3 relative (the fixtures' README).
constexpr double kTolerance = 5e-3;

Engine open_engine(const FixtureReference& ref, DeviceChoice device) {
  return Engine(
      {.model = ref.model_dir.string(), .dummy_seed = 1234, .backend = {.device = device}});
}

}  // namespace

TEST_CASE("GPU prefill logits match Hugging Face and the CPU engine", "[gpu][e2e]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny");
  const FixtureReference ref = load_fixture_reference(name);
  Engine gpu = open_engine(ref, DeviceChoice::kGpu);
  Engine cpu = open_engine(ref, DeviceChoice::kCpu);
  REQUIRE(gpu.device().kind() == DeviceKind::kGpu);
  const std::vector<float> logits =
      gpu.forward(ref.input_ids, ref.attention_mask, ref.batch, ref.seq_len);
  const std::vector<float> cpu_logits =
      cpu.forward(ref.input_ids, ref.attention_mask, ref.batch, ref.seq_len);
  double worst = 0;
  for (int64_t row = 0; row < ref.batch * ref.seq_len; ++row) {
    if (ref.attention_mask[row] == 0) continue;
    const double vs_hf = row_relative_error(&logits[row * ref.vocab],
                                            &ref.prefill_logits[row * ref.vocab], ref.vocab);
    const double vs_cpu =
        row_relative_error(&logits[row * ref.vocab], &cpu_logits[row * ref.vocab], ref.vocab);
    INFO(name << " row " << row << ": vs HF " << vs_hf << ", vs CPU " << vs_cpu);
    REQUIRE(vs_hf <= kTolerance);
    REQUIRE(vs_cpu <= kTolerance);
    worst = std::max(worst, vs_hf);
  }
  WARN(name << ": worst GPU prefill row error vs HF " << worst);
}

TEST_CASE("GPU teacher-forced decode matches Hugging Face", "[gpu][e2e]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny");
  const FixtureReference ref = load_fixture_reference(name);
  Engine gpu = open_engine(ref, DeviceChoice::kGpu);
  BatchRunner runner = gpu.make_runner(
      {.batch = ref.batch, .capacity = ref.seq_len + ref.gen_len, .max_step_tokens = ref.seq_len});
  runner.step(ref.input_ids, ref.attention_mask, ref.seq_len, LogitRows::kLast);
  const std::vector<uint8_t> ones(static_cast<size_t>(ref.batch), 1);
  double worst = 0;
  for (int64_t t = 0; t < ref.gen_len; ++t) {
    const std::vector<float> logits = runner.logits_to_host();
    std::vector<int32_t> next(static_cast<size_t>(ref.batch));
    for (int64_t b = 0; b < ref.batch; ++b) {
      const float* expected = &ref.decode_logits[(b * ref.gen_len + t) * ref.vocab];
      const double error = row_relative_error(&logits[b * ref.vocab], expected, ref.vocab);
      INFO(name << " sequence " << b << " step " << t << ": " << error);
      REQUIRE(error <= kTolerance);
      worst = std::max(worst, error);
      if (clear_winner(expected, ref.vocab, 0.05)) {
        CHECK(argmax(&logits[b * ref.vocab], ref.vocab) == ref.generated[b][t]);
      }
      next[static_cast<size_t>(b)] = ref.generated[b][t];
    }
    if (t + 1 < ref.gen_len) runner.step(next, ones, 1, LogitRows::kLast);
  }
  WARN(name << ": worst GPU decode row error vs HF " << worst);
}

TEST_CASE("GPU sampling follows the CPU engine's streams", "[gpu][e2e]") {
  const FixtureReference ref = load_fixture_reference("llama-tiny");
  Engine gpu = open_engine(ref, DeviceChoice::kGpu);
  std::vector<Prompt> prompts;
  for (size_t i = 0; i < ref.prompts.size(); ++i)
    prompts.push_back({.token_ids = ref.prompts[i], .index = i});
  GenerationOptions options;
  options.max_new_tokens = 8;
  options.stop_at_eos = false;
  options.sampling = {.temperature = 0.8f, .top_k = 50, .top_p = 0.9f};
  options.seed = 7;
  const auto first = gpu.generate(prompts, options);
  options.batch_size = 1;
  CHECK(gpu.generate(prompts, options) == first);  // per-prompt streams: batching changes nothing
  for (const auto& tokens : first) CHECK(tokens.size() == 8);
}

}  // namespace alisa::test

namespace alisa::test {

TEST_CASE("GPU held-out perplexity of the demo models matches PyTorch's", "[gpu][e2e]") {
  const std::string name = GENERATE("opt-code", "llama-code");
  const std::filesystem::path dir = demo_model_path(name);
  const nlohmann::json reference =
      nlohmann::json::parse(read_text(dir / "reference.json"))["heldout_perplexity"];
  Engine engine(
      {.model = dir.string(), .dummy_seed = 1234, .backend = {.device = DeviceChoice::kGpu}});
  const std::vector<int32_t> ids =
      engine.tokenizer()->encode(read_text(dir / reference["file"].get<std::string>()), false);
  const PerplexityResult r = compute_perplexity(
      engine, ids, {.context_length = reference["context_length"].get<int64_t>()});
  const double expected = reference["value"].get<double>();
  WARN(name << ": GPU perplexity " << r.perplexity << ", PyTorch (float32) " << expected);
  CHECK(r.n_tokens == reference["n_tokens"].get<int64_t>());
  CHECK(std::abs(r.perplexity - expected) <= 2e-3 * expected);  // float16 activations
}

}  // namespace alisa::test
