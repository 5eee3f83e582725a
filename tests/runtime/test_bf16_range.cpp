// A model trained in bfloat16 may carry activations beyond float16's range (65504). Here
// llama-tiny's first MLP is scaled up (gate and up projections by 2^10: exact in bfloat16, and the
// weights stay within float16) so that its hidden activations reach about 1e5 and more; the
// following RMSNorm brings the residual stream back, so the logits stay ordinary. Saved in
// bfloat16, the GPU engine runs it in bfloat16 and matches the CPU reference (float32), where
// float16 overflows to infinities.
#include <catch2/catch.hpp>

#include <cmath>

#include "runtime/jobs/engine.h"
#include "tests/runtime/offload_runs.h"
#include "tests/support/test_devices.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

constexpr float kScale = 1024.0f;

void write_scaled_model(const std::filesystem::path& folder) {
  write_checkpoint_copy(fixture_path("llama-tiny"), folder, DType::kBF16,
                        [](const WeightSlot& slot, std::vector<float>& x) {
                          const bool first_mlp =
                              slot.layer == 0 &&
                              (slot.name.find("gate_proj") != std::string::npos ||
                               slot.name.find("up_proj") != std::string::npos);
                          if (!first_mlp) return;
                          for (float& v : x) v *= kScale;
                        });
}

// Logits of one unpadded batch of two sequences of 12 tokens.
std::vector<float> logits_of(const std::filesystem::path& model, const BackendOptions& backend) {
  Engine engine({.model = model.string(), .backend = backend});
  std::vector<int32_t> ids;
  for (int32_t i = 0; i < 24; ++i) ids.push_back((i * 37 + 11) % 200 + 3);
  return engine.forward(ids, std::vector<uint8_t>(ids.size(), 1), 2, 12);
}

bool all_finite(const std::vector<float>& values) {
  for (float v : values) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a bfloat16 checkpoint loads as bfloat16 and picks the GPU's bfloat16", "[bf16]") {
  ScratchDir dir;
  write_scaled_model(dir.path());
  const ModelSpec spec = load_model_spec(dir.path());
  CHECK(spec.torch_dtype == DType::kBF16);
  CHECK(gpu_compute_dtype(GpuDtypeChoice::kAuto, spec.torch_dtype) == DType::kBF16);
  CHECK(gpu_compute_dtype(GpuDtypeChoice::kF16, spec.torch_dtype) == DType::kF16);
  CHECK(gpu_compute_dtype(GpuDtypeChoice::kAuto, DType::kF16) == DType::kF16);
  CHECK(gpu_compute_dtype(GpuDtypeChoice::kBF16, DType::kF16) == DType::kBF16);
  // The CPU reference of the scaled model is finite (float32 holds its activations).
  CHECK(all_finite(logits_of(dir.path(), kCpuDevice.backend(2))));
}

TEST_CASE("the stored dtype and the GPU dtype are read or refused by name", "[bf16]") {
  const std::string config =
      R"({"model_type": "llama", "vocab_size": 32, "hidden_size": 16, "num_hidden_layers": 1,
          "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 64, )";
  CHECK(model_spec_from_json(config + R"("torch_dtype": "bfloat16"})", "c.json").torch_dtype ==
        DType::kBF16);
  CHECK(model_spec_from_json(config + R"("dtype": "float16"})", "c.json").torch_dtype ==
        DType::kF16);
  CHECK(model_spec_from_json(config + R"("pad_token_id": 0})", "c.json").torch_dtype ==
        DType::kF32);
  CHECK_THROWS_WITH(model_spec_from_json(config + R"("dtype": "float8_e4m3fn"})", "c.json"),
                    Catch::Contains("c.json: unsupported dtype 'float8_e4m3fn'"));
  CHECK(parse_gpu_dtype_choice("bf16", "--dtype") == GpuDtypeChoice::kBF16);
  CHECK_THROWS_WITH(parse_gpu_dtype_choice("fp8", "--dtype"),
                    Catch::Contains("--dtype: 'fp8' is not a GPU dtype"));
}

TEST_CASE("activations beyond float16's range: bfloat16 matches the CPU, float16 overflows",
          "[gpu][bf16]") {
  if (skip_without_gpu()) return;
  ScratchDir dir;
  write_scaled_model(dir.path());
  const std::vector<float> cpu = logits_of(dir.path(), kCpuDevice.backend(2));
  REQUIRE(all_finite(cpu));
  const TestDevice bf16{.device = DeviceChoice::kGpu, .dtype = GpuDtypeChoice::kAuto};
  const std::vector<float> gpu_bf16 = logits_of(dir.path(), bf16.backend());
  // As the other GPU-against-CPU runs: 2e-2 in float16, 8 times that in bfloat16.
  const double tolerance =
      TestDevice{.device = DeviceChoice::kGpu, .dtype = GpuDtypeChoice::kBF16}.tolerance(0, 2e-2);
  const Comparison c = compare(gpu_bf16.data(), cpu.data(), cpu.size(), tolerance, tolerance);
  WARN("bfloat16 GPU against the CPU: max abs error " << c.max_abs_error);
  CHECK(c.ok());
  // The same checkpoint computed in float16: the first MLP's activations overflow.
  const std::vector<float> gpu_f16 = logits_of(dir.path(), kGpuF16Device.backend());
  CHECK_FALSE(all_finite(gpu_f16));
}

}  // namespace alisa::test
