// The CPU engine against Hugging Face's float32 references for opt-tiny and llama-tiny.
// The fixtures (random tiny models) and the project's trained demo models (configs/demo-models).
// Tolerance: 1e-4 relative (Euclidean, per logits row); alisa's float32 path lands near 6e-7.
#include <algorithm>
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include "runtime/jobs/engine.h"
#include "tests/e2e/fixture_reference.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

constexpr double kTolerance = 1e-4;

// The demo models' references came from PyTorch on the GPU host's CPU, whose float32 logits are
// themselves up to 1.04e-4 from float64 math there (alisa's: 2.2e-6): allow twice that.
double tolerance_for(const std::string& name) {
  return name.rfind("demo:", 0) == 0 ? 2e-4 : kTolerance;
}

}  // namespace

TEST_CASE("prefill logits match Hugging Face on every unpadded position", "[e2e][cpu]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny", "demo:opt-code", "demo:llama-code");
  const FixtureReference ref = load_fixture_reference(name);
  Engine engine({.model = ref.model_dir.string(), .backend = {.device = DeviceChoice::kCpu}});
  const std::vector<float> logits =
      engine.forward(ref.input_ids, ref.attention_mask, ref.batch, ref.seq_len);
  REQUIRE(static_cast<int64_t>(logits.size()) == ref.batch * ref.seq_len * ref.vocab);
  int64_t checked = 0;
  for (int64_t row = 0; row < ref.batch * ref.seq_len; ++row) {
    if (ref.attention_mask[row] == 0) continue;
    INFO(name << " row " << row);
    REQUIRE(row_relative_error(&logits[row * ref.vocab], &ref.prefill_logits[row * ref.vocab],
                               ref.vocab) <= tolerance_for(name));
    ++checked;
  }
  CHECK(checked > ref.batch);
}

TEST_CASE("teacher-forced decode logits match Hugging Face", "[e2e][cpu]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny", "demo:opt-code", "demo:llama-code");
  const FixtureReference ref = load_fixture_reference(name);
  Engine engine({.model = ref.model_dir.string(), .backend = {.device = DeviceChoice::kCpu}});
  BatchRunner runner = engine.make_runner(
      {.batch = ref.batch, .capacity = ref.seq_len + ref.gen_len, .max_step_tokens = ref.seq_len});
  runner.step(ref.input_ids, ref.attention_mask, ref.seq_len, LogitRows::kLast);
  const std::vector<uint8_t> ones(static_cast<size_t>(ref.batch), 1);
  int64_t decided = 0;
  for (int64_t t = 0; t < ref.gen_len; ++t) {
    const std::vector<float> logits = runner.logits_to_host();
    std::vector<int32_t> next(static_cast<size_t>(ref.batch));
    for (int64_t b = 0; b < ref.batch; ++b) {
      const float* actual = &logits[b * ref.vocab];
      const float* expected = &ref.decode_logits[(b * ref.gen_len + t) * ref.vocab];
      INFO(name << " sequence " << b << " step " << t);
      REQUIRE(row_relative_error(actual, expected, ref.vocab) <= tolerance_for(name));
      if (clear_winner(expected, ref.vocab, 1e-3)) {
        CHECK(argmax(actual, ref.vocab) == ref.generated[b][t]);
        ++decided;
      }
      next[static_cast<size_t>(b)] = ref.generated[b][t];
    }
    if (t + 1 < ref.gen_len) runner.step(next, ones, 1, LogitRows::kLast);
  }
  CHECK(decided > ref.batch * ref.gen_len / 2);
}

TEST_CASE("greedy generate reproduces Hugging Face's generated tokens", "[e2e][cpu]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny", "demo:opt-code", "demo:llama-code");
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
