#include "tests/runtime/offload_runs.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "kernels_cpu/quantize_cpu.h"
#include "runtime/model/model_spec.h"
#include "runtime/model/safetensors.h"
#include "tests/support/test_devices.h"
#include "tests/test_support.h"

namespace alisa::test {

Policy policy_with(double wg, double wc, double cg, double cc, double ag, double ac) {
  Policy p;
  p.gpu_batch_size = 2;
  p.num_gpu_batches = 3;
  p.weights_gpu_percent = wg;
  p.weights_cpu_percent = wc;
  p.cache_gpu_percent = cg;
  p.cache_cpu_percent = cc;
  p.activations_gpu_percent = ag;
  p.activations_cpu_percent = ac;
  p.pin_weights = true;
  return p;
}

// A left-padded block of random prompts, prefill then greedy decode steps.
Run run_policy(const std::filesystem::path& model, const TestDevice& device, const Policy& policy,
               const std::filesystem::path& offload_dir, int64_t n_decode, const SwaOptions& swa,
               const Run* teacher) {
  Engine engine({.model = model.string(),
                 .backend = device.backend(2),
                 .policy = policy,
                 .offload_dir = offload_dir,
                 .swa = swa});
  const int64_t block = policy.block_size();
  const int64_t prompt = 7;
  std::unique_ptr<BlockRunner> runner =
      engine.make_block_runner(block, prompt + n_decode + 1, prompt, false);
  REQUIRE(runner->shape().block_size() == block);
  std::mt19937 rng(11);
  std::vector<int32_t> ids(static_cast<size_t>(block * prompt));
  std::vector<uint8_t> mask(ids.size(), 1);
  for (int64_t s = 0; s < block; ++s) {
    for (int64_t i = 0; i < prompt; ++i) {
      ids[static_cast<size_t>(s * prompt + i)] =
          static_cast<int32_t>(rng() % static_cast<uint32_t>(engine.spec().vocab_size));
      // Sequence s is left-padded by s % 3 tokens.
      if (i < s % 3) mask[static_cast<size_t>(s * prompt + i)] = 0;
    }
  }
  Run run;
  runner->step(ids, mask, prompt);
  const std::vector<uint64_t> keys(static_cast<size_t>(block), 0);
  const std::vector<uint8_t> ones(static_cast<size_t>(block), 1);
  for (int64_t t = 0; t <= n_decode; ++t) {
    run.logits.push_back(runner->logits_to_host());
    run.tokens.push_back(runner->sample({}, keys, static_cast<uint64_t>(t)));
    if (t < n_decode) runner->step(teacher ? teacher->tokens.at(t) : run.tokens.back(), ones, 1);
  }
  return run;
}

bool bitwise_equal(const Run& a, const Run& b) {
  if (a.logits.size() != b.logits.size()) return false;
  for (size_t i = 0; i < a.logits.size(); ++i) {
    if (a.logits[i].size() != b.logits[i].size() ||
        std::memcmp(a.logits[i].data(), b.logits[i].data(), a.logits[i].size() * sizeof(float)) !=
            0) {
      return false;
    }
  }
  return a.tokens == b.tokens;
}

void check_runs_equal(const std::filesystem::path& model, const TestDevice& device,
                      std::span<const PolicyCase> cases, const Run& reference,
                      const std::filesystem::path& offload_dir, int64_t n_decode,
                      const SwaOptions& swa) {
  for (const PolicyCase& c : cases) {
    INFO(device_name(device) << ", " << model.filename().string() << ": " << c.what);
    CHECK(
        bitwise_equal(run_policy(model, device, c.policy, offload_dir, n_decode, swa), reference));
  }
}

std::vector<PolicyCase> data_moving_policies() {
  return {
      {"weights on the CPU", policy_with(0, 100, 100, 0, 100, 0)},
      {"weights on disk", policy_with(0, 0, 100, 0, 100, 0)},
      {"weights split 30/40/30", policy_with(30, 40, 100, 0, 100, 0)},
      {"KV cache on the CPU", policy_with(100, 0, 0, 100, 100, 0)},
      {"KV cache on disk", policy_with(100, 0, 0, 0, 100, 0)},
      {"KV cache split 40/30/30", policy_with(100, 0, 40, 30, 100, 0)},
      {"activations on the CPU", policy_with(100, 0, 100, 0, 0, 100)},
      {"activations on disk", policy_with(100, 0, 100, 0, 0, 0)},
      {"everything split", policy_with(20, 50, 30, 40, 34, 33)},
  };
}

std::vector<PolicyCase> cpu_attention_policies() {
  std::vector<PolicyCase> cases = {
      {"cache and activations on the CPU", policy_with(20, 80, 0, 100, 0, 100)},
      {"cache split 50/50, activations on the GPU", policy_with(20, 80, 50, 50, 100, 0)},
  };
  for (PolicyCase& c : cases) c.policy.cpu_attention = true;
  return cases;
}

SwaOptions sparse_swa_options() {
  return {.sparsity = 0.5, .window_max = 3, .min_tokens = 2};
}

std::vector<PolicyCase> swa_compute_placements() {
  return {
      {"cache on the CPU, read in place", policy_with(100, 0, 0, 100, 100, 0)},
      {"cache on disk", policy_with(100, 0, 0, 0, 100, 0)},
      {"cache split 40/30/30, weights and activations moved", policy_with(30, 40, 40, 30, 0, 100)},
  };
}

std::vector<PolicyCase> swa_recompute_placements() {
  std::vector<PolicyCase> cases = swa_compute_placements();
  for (PolicyCase& c : cases) c.policy.cache_recompute_percent = 50;
  return cases;
}

std::vector<PolicyCase> swa_cpu_attention_placements() {
  std::vector<PolicyCase> cases = {
      {"cache on the CPU, attended there", policy_with(100, 0, 0, 100, 100, 0)},
      {"cache split 50/50, half attended on the CPU", policy_with(20, 80, 50, 50, 100, 0)},
  };
  for (PolicyCase& c : cases) c.policy.cpu_attention = true;
  return cases;
}

std::vector<PolicyCase> compressed_weight_policies() {
  std::vector<PolicyCase> cases = {
      {"compressed weights on the GPU", policy_with(100, 0, 100, 0, 100, 0)},
      {"compressed weights on the CPU", policy_with(0, 100, 100, 0, 100, 0)},
      {"compressed weights on disk", policy_with(0, 0, 100, 0, 100, 0)},
      {"compressed weights split 30/40/30", policy_with(30, 40, 0, 100, 0, 100)},
  };
  for (PolicyCase& c : cases) c.policy.compress_weights = true;
  return cases;
}

std::vector<PolicyCase> compressed_cache_policies() {
  std::vector<PolicyCase> cases = {
      {"int8 cache on the GPU", policy_with(100, 0, 100, 0, 100, 0)},
      {"int8 cache on the CPU", policy_with(100, 0, 0, 100, 100, 0)},
      {"int8 cache on disk", policy_with(100, 0, 0, 0, 100, 0)},
      {"int8 cache split 40/30/30, weights and activations split",
       policy_with(30, 40, 40, 30, 34, 33)},
  };
  for (PolicyCase& c : cases) c.policy.compress_cache = true;
  return cases;
}

void write_checkpoint_copy(const std::filesystem::path& model, const std::filesystem::path& folder,
                           DType dtype, const WeightTransform& transform) {
  REQUIRE((dtype == DType::kF32 || dtype == DType::kBF16));
  const ModelSpec spec = load_model_spec(model);
  const std::unique_ptr<WeightSource> source = open_checkpoint_weights(model);
  std::vector<std::vector<float>> values;
  std::vector<std::vector<uint16_t>> narrowed;
  std::vector<SafetensorsTensorView> views;
  for (const WeightSlot& slot : weight_layout(spec)) {
    int64_t n = 1;
    for (int64_t d : slot.shape) n *= d;
    std::vector<float>& x = values.emplace_back(static_cast<size_t>(n));
    source->read_f32(slot, x.data());
    transform(slot, x);
    const void* data = x.data();
    if (dtype == DType::kBF16) {
      std::vector<uint16_t>& bits = narrowed.emplace_back(x.size());
      for (size_t i = 0; i < x.size(); ++i) bits[i] = float_to_bf16_bits(x[i]);
      data = bits.data();
    }
    views.push_back({slot.name, dtype, slot.shape, data});
  }
  std::filesystem::create_directories(folder);
  write_safetensors(folder / "model.safetensors", views);
  nlohmann::json config = nlohmann::json::parse(read_text(model / "config.json"));
  config.erase("torch_dtype");
  config["dtype"] = dtype == DType::kBF16 ? "bfloat16" : "float32";
  std::ofstream(folder / "config.json") << config.dump(2);
}

void write_int4_rounded_checkpoint(const std::filesystem::path& model,
                                   const std::filesystem::path& folder) {
  write_checkpoint_copy(
      model, folder, DType::kF32, [](const WeightSlot& slot, std::vector<float>& x) {
        if (slot.layer < 0 || slot.shape.size() != 2) return;
        const int64_t n = static_cast<int64_t>(x.size());
        std::vector<uint8_t> packed(static_cast<size_t>(int4_packed_bytes(n)));
        std::vector<uint16_t> scale(static_cast<size_t>(int4_n_groups(n, kInt4Group)));
        std::vector<uint16_t> min(scale.size());
        quantize_int4_cpu({.x = x.data(),
                           .x_dtype = DType::kF32,
                           .packed = packed.data(),
                           .scale = scale.data(),
                           .min = min.data(),
                           .n = n,
                           .group = kInt4Group});
        dequantize_int4_cpu({.packed = packed.data(),
                             .scale = scale.data(),
                             .min = min.data(),
                             .out = x.data(),
                             .out_dtype = DType::kF32,
                             .n = n,
                             .group = kInt4Group});
      });
}

}  // namespace alisa::test
