// The engine against Hugging Face's float32 references for the fixture models (one per family:
// OPT, LLaMA, Llama 3, Mistral, Qwen2, Qwen3) and the project's trained demo models
// (configs/demo-models), on every test device (tests/support/test_devices.h). Tolerance,
// relative (Euclidean, per logits row): on the CPU 1e-4 (alisa's float32 path lands near 6e-7);
// on the GPU 5e-3 in float16 (float16 activations and weights, float32 accumulation: a few
// 1e-3, the fixtures' README) and 4e-2 in bfloat16 (8 times coarser roundings), where the logits
// are also held to the CPU engine's. A mixture-of-experts fixture (mixtral-tiny) is refused,
// naming what alisa does not run.
#include <algorithm>
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include "runtime/jobs/engine.h"
#include "tests/e2e/fixture_reference.h"
#include "tests/support/test_devices.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

constexpr double kTolerance = 1e-4;
constexpr double kF16Tolerance = 5e-3;

// The demo models are held to the fixtures' tolerance too: with the rotary frequencies in float32
// (as Hugging Face keeps them) their CPU logits lie within 1.6e-6 of PyTorch's references.
double tolerance_for(const TestDevice& device) {
  return device.tolerance(kTolerance, kF16Tolerance);
}

Engine open_engine(const FixtureReference& ref, const TestDevice& device) {
  return Engine({.model = ref.model_dir.string(), .backend = device.backend()});
}

}  // namespace

TEST_CASE("prefill logits match Hugging Face on every unpadded position", "[e2e][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  const std::string name = GENERATE(from_range(reference_model_names()));
  const FixtureReference ref = load_fixture_reference(name);
  Engine engine = open_engine(ref, device);
  REQUIRE(engine.device().kind() == (device.gpu() ? DeviceKind::kGpu : DeviceKind::kCpu));
  REQUIRE(engine.activation_dtype() == (!device.gpu()   ? DType::kF32
                                        : device.bf16() ? DType::kBF16
                                                        : DType::kF16));
  const std::vector<float> logits =
      engine.forward(ref.input_ids, ref.attention_mask, ref.batch, ref.seq_len);
  REQUIRE(static_cast<int64_t>(logits.size()) == ref.batch * ref.seq_len * ref.vocab);
  // GPU runs are also held to the CPU engine's logits.
  std::vector<float> cpu_logits;
  if (device.gpu()) {
    cpu_logits = open_engine(ref, kCpuDevice)
                     .forward(ref.input_ids, ref.attention_mask, ref.batch, ref.seq_len);
  }
  int64_t checked = 0;
  double worst = 0;
  for (int64_t row = 0; row < ref.batch * ref.seq_len; ++row) {
    if (ref.attention_mask[row] == 0) continue;
    const double vs_hf = row_relative_error(&logits[row * ref.vocab],
                                            &ref.prefill_logits[row * ref.vocab], ref.vocab);
    INFO(device_name(device) << ", " << name << " row " << row << ": vs HF " << vs_hf);
    REQUIRE(vs_hf <= tolerance_for(device));
    if (!cpu_logits.empty()) {
      const double vs_cpu =
          row_relative_error(&logits[row * ref.vocab], &cpu_logits[row * ref.vocab], ref.vocab);
      INFO("vs the CPU engine " << vs_cpu);
      REQUIRE(vs_cpu <= tolerance_for(device));
    }
    worst = std::max(worst, vs_hf);
    ++checked;
  }
  CHECK(checked > ref.batch);
  if (device.gpu()) {
    WARN(name << ": worst GPU prefill row error vs HF " << worst);
  }
}

TEST_CASE("teacher-forced decode logits match Hugging Face", "[e2e][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  const std::string name = GENERATE(from_range(reference_model_names()));
  const FixtureReference ref = load_fixture_reference(name);
  Engine engine = open_engine(ref, device);
  BatchRunner runner = engine.make_runner(
      {.batch = ref.batch, .capacity = ref.seq_len + ref.gen_len, .max_step_tokens = ref.seq_len});
  runner.step(ref.input_ids, ref.attention_mask, ref.seq_len, LogitRows::kLast);
  const std::vector<uint8_t> ones(static_cast<size_t>(ref.batch), 1);
  // The argmax is checked where HF's is decided by more than this device's rounding could move:
  // float32 (CPU), float16 or bfloat16 (GPU; 8 times float16's margin). The fixtures' rows are
  // decided at float16's margin more often than not; bfloat16's wider one leaves a few.
  const double margin = device.tolerance(1e-3, 0.05);
  int64_t checked = 0, decided_at_f16 = 0, agreeing = 0;
  double worst = 0;
  for (int64_t t = 0; t < ref.gen_len; ++t) {
    const std::vector<float> logits = runner.logits_to_host();
    std::vector<int32_t> next(static_cast<size_t>(ref.batch));
    for (int64_t b = 0; b < ref.batch; ++b) {
      const float* actual = &logits[b * ref.vocab];
      const float* expected = &ref.decode_logits[(b * ref.gen_len + t) * ref.vocab];
      const double error = row_relative_error(actual, expected, ref.vocab);
      INFO(device_name(device) << ", " << name << " sequence " << b << " step " << t << ": "
                               << error);
      REQUIRE(error <= tolerance_for(device));
      worst = std::max(worst, error);
      const bool agrees = argmax(actual, ref.vocab) == ref.generated[b][t];
      if (clear_winner(expected, ref.vocab, margin)) {
        CHECK(agrees);
        ++checked;
      }
      decided_at_f16 += clear_winner(expected, ref.vocab, 0.05);
      agreeing += agrees;
      next[static_cast<size_t>(b)] = ref.generated[b][t];
    }
    if (t + 1 < ref.gen_len) runner.step(next, ones, 1, LogitRows::kLast);
  }
  const int64_t rows = ref.batch * ref.gen_len;
  INFO(device_name(device) << ", " << name << ": argmax checked on " << checked << ", agreeing on "
                           << agreeing << " of " << rows << " rows");
  CHECK(decided_at_f16 > rows / 2);
  CHECK(checked > 0);
  // Near-ties aside, the greedy token is HF's: the error bound alone would allow far fewer.
  CHECK(agreeing >= rows * 3 / 4);
  if (device.gpu()) {
    WARN(name << ": worst GPU decode row error vs HF " << worst << "; argmax agrees on " << agreeing
              << " of " << rows << " rows");
  }
}

TEST_CASE("sampling gives each prompt its own stream: batching changes nothing", "[e2e][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  const FixtureReference ref = load_fixture_reference("llama-tiny");
  Engine engine = open_engine(ref, device);
  std::vector<Prompt> prompts;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    prompts.push_back({.token_ids = ref.prompts[i], .index = i});
  }
  GenerationOptions options;
  options.max_new_tokens = 8;
  options.stop_at_eos = false;
  options.sampling = {.temperature = 0.8f, .top_k = 50, .top_p = 0.9f};
  options.seed = 7;
  const auto first = engine.generate(prompts, options);
  options.batch_size = 1;
  INFO(device_name(device));
  CHECK(engine.generate(prompts, options) == first);
  for (const auto& tokens : first) CHECK(tokens.size() == 8);
}

TEST_CASE("greedy generate reproduces Hugging Face's generated tokens", "[e2e][cpu]") {
  const std::string name = GENERATE(from_range(reference_model_names()));
  const FixtureReference ref = load_fixture_reference(name);
  Engine engine({.model = ref.model_dir.string(), .backend = {.device = DeviceChoice::kCpu}});
  std::vector<Prompt> prompts;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    prompts.push_back({.token_ids = ref.prompts[i], .index = i});
  }
  // Hugging Face's generate stops a sequence at EOS; the reference ran gen_len steps for all.
  GenerationOptions options;
  options.max_new_tokens = ref.gen_len;
  options.batch_size = ref.batch;
  options.stop_at_eos = false;
  const std::vector<std::vector<int32_t>> generated = engine.generate(prompts, options);
  REQUIRE(generated.size() == ref.generated.size());
  for (size_t b = 0; b < generated.size(); ++b) {
    INFO(name << " sequence " << b);
    CHECK(generated[b] == ref.generated[b]);
  }
  // One prompt at a time: batching and padding must not change greedy results.
  options.batch_size = 1;
  CHECK(engine.generate(prompts, options) == generated);
}

}  // namespace alisa::test

namespace alisa::test {

TEST_CASE("the demo models' tokenizers give PyTorch's prompt ids and completions", "[e2e][cpu]") {
  const std::string name = GENERATE("opt-code", "llama-code");
  const std::filesystem::path dir = demo_model_path(name);
  const FixtureReference ref = load_reference(dir);
  const nlohmann::json json = nlohmann::json::parse(read_text(dir / "reference.json"));
  const Tokenizer tokenizer = Tokenizer::load(dir / "tokenizer.json");
  const auto texts = json["prompt_texts"].get<std::vector<std::string>>();
  const auto completions = json["completions"].get<std::vector<std::string>>();
  REQUIRE(texts.size() == ref.prompts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    CHECK(tokenizer.encode(texts[i], /*add_special_tokens=*/true) == ref.prompts[i]);
    CHECK(tokenizer.decode(ref.generated[i]) == completions[i]);
  }
}

}  // namespace alisa::test
