// alisa perplexity against the demo models' PyTorch figure, and the window bookkeeping.
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "runtime/jobs/perplexity.h"
#include "tests/support/test_devices.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

// The demo models checked on `device`: on the CPU (float32, about 20 s a model on 2 cores) the
// OPT model, on the GPU both.
std::vector<std::string> perplexity_models(const TestDevice& device) {
  if (device.gpu()) return {"opt-code", "llama-code"};
  return {"opt-code"};
}

}  // namespace

TEST_CASE("held-out perplexity of the demo models matches PyTorch's",
          "[e2e][perplexity][devices]") {
  const TestDevice device = GENERATE(from_range(test_devices()));
  const std::string name = GENERATE_COPY(from_range(perplexity_models(device)));
  const std::filesystem::path dir = demo_model_path(name);
  const nlohmann::json reference =
      nlohmann::json::parse(read_text(dir / "reference.json"))["heldout_perplexity"];
  Engine engine({.model = dir.string(), .backend = device.backend()});
  const std::vector<int32_t> ids =
      engine.tokenizer()->encode(read_text(dir / reference["file"].get<std::string>()), false);
  const PerplexityResult r = compute_perplexity(
      engine, ids, {.context_length = reference["context_length"].get<int64_t>()});
  CHECK(r.n_tokens == reference["n_tokens"].get<int64_t>());
  CHECK(r.n_windows == reference["n_windows"].get<int64_t>());
  const double expected = reference["value"].get<double>();
  INFO(device_name(device) << ": alisa " << r.perplexity << ", PyTorch " << expected);
  if (device.gpu()) {
    WARN(name << ": GPU perplexity " << r.perplexity << ", PyTorch (float32) " << expected);
  }
  // float32 on the CPU; float16 or bfloat16 activations on the GPU.
  const double tolerance = device.tolerance(1e-5, 2e-3);
  CHECK(std::abs(r.perplexity - expected) <= tolerance * expected);
}

TEST_CASE("every token after the first is scored exactly once, whatever the stride",
          "[e2e][cpu][perplexity]") {
  Engine engine({.model = fixture_path("opt-tiny").string(),
                 .dummy_seed = 1234,
                 .backend = {.device = DeviceChoice::kCpu}});
  std::mt19937 rng(5);
  std::vector<int32_t> ids(300);
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % 512);
  const PerplexityResult disjoint = compute_perplexity(engine, ids, {.context_length = 64});
  CHECK(disjoint.n_windows == 5);  // 64 * 4 + 44
  CHECK(disjoint.n_tokens == 300 - 5);
  for (const int64_t stride : {1, 16, 63}) {
    const PerplexityResult sliding =
        compute_perplexity(engine, ids, {.context_length = 64, .stride = stride});
    CHECK(sliding.n_tokens == 299);
    // More context per token: never much worse than disjoint windows on the same text.
    CHECK(std::isfinite(sliding.perplexity));
  }
  // Batching windows (with a left-padded tail) changes nothing.
  const PerplexityResult one_by_one =
      compute_perplexity(engine, ids, {.context_length = 64, .batch_size = 1});
  CHECK(std::abs(one_by_one.mean_nll - disjoint.mean_nll) <= 1e-6 * disjoint.mean_nll);
  REQUIRE_THROWS_AS(compute_perplexity(engine, ids, {.context_length = 500}), Error);
  REQUIRE_THROWS_AS(compute_perplexity(engine, ids, {.context_length = 32, .stride = 64}), Error);
}

}  // namespace alisa::test
