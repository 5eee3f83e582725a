#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <string>

#include "policy/footprint.h"
#include "policy/memory_plan.h"
#include "policy/placement.h"
#include "policy/policy.h"
#include "runtime/base/common.h"
#include "runtime/model/model_spec.h"

namespace alisa {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

std::string error_of(const std::string& yaml) {
  try {
    policy_from_yaml(yaml, "p.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Round numbers: L 4, d 128, f 512, V 1000, 6400 + 100 parameters a layer (13000 bytes), 64000
// global matrix parameters (128000 bytes), Kt = 2 * 2 * 128 = 512 bytes.
ModelFootprint tiny() {
  ModelFootprint f;
  f.n_layers = 4;
  f.hidden_size = 128;
  f.ffn_dim = 512;
  f.vocab_size = 1000;
  f.max_positions = 2048;
  f.q_dim = 128;
  f.embed_dim = 128;
  f.kv_dim = 128;
  f.n_kv_heads = 2;
  f.layer_matrix_params = 6400;
  f.layer_vector_params = 100;
  f.global_matrix_params = 64000;
  f.global_vector_params = 0;
  f.layer_weight_bytes = 13000;
  f.global_weight_bytes = 128000;
  f.kv_bytes_per_token_per_layer = 512;
  return f;
}

Policy tiny_policy() {
  Policy p;
  p.gpu_batch_size = 2;
  p.num_gpu_batches = 3;  // B = 6
  p.weights_gpu_percent = 25;
  p.weights_cpu_percent = 50;
  p.cache_gpu_percent = 50;
  p.cache_cpu_percent = 25;
  return p;
}

}  // namespace

TEST_CASE("policy defaults put everything on the GPU", "[policy]") {
  const Policy p = policy_from_yaml("", "empty.yaml");
  CHECK(p.gpu_batch_size == 1);
  CHECK(p.num_gpu_batches == 1);
  CHECK(p.block_size() == 1);
  CHECK(p.weights_gpu_percent == 100);
  CHECK(p.cache_gpu_percent == 100);
  CHECK(p.activations_gpu_percent == 100);
  CHECK(p.weights_disk_percent() == 0);
  CHECK_FALSE(p.cpu_attention);
  CHECK(p.pin_weights);
  CHECK_FALSE(p.compress_weights);
  CHECK_FALSE(p.compress_cache);
}

TEST_CASE("policy YAML sets every key", "[policy]") {
  const Policy p = policy_from_yaml(
      "gpu_batch_size: 48\nnum_gpu_batches: 3\nweights_gpu_percent: 20\n"
      "weights_cpu_percent: 80\ncache_gpu_percent: 0\ncache_cpu_percent: 100\n"
      "activations_gpu_percent: 12.5\nactivations_cpu_percent: 50\ncpu_attention: true\n"
      "pin_weights: false\ncompress_weights: true\ncompress_cache: true\n"
      "cache_recompute_percent: 20\n",
      "p.yaml");
  CHECK(p.block_size() == 144);
  CHECK(p.weights_gpu_percent == 20);
  CHECK(p.weights_cpu_percent == 80);
  CHECK(p.weights_disk_percent() == 0);
  CHECK(p.cache_cpu_percent == 100);
  CHECK(p.activations_gpu_percent == 12.5);
  CHECK(p.activations_disk_percent() == 37.5);
  CHECK(p.cpu_attention);
  CHECK_FALSE(p.pin_weights);
  CHECK(p.compress_weights);
  CHECK(p.compress_cache);
  CHECK(p.cache_recompute_percent == 20);
  CHECK_FALSE(p.cache_recompute_auto);
  CHECK(policy_from_yaml("cache_recompute_percent: auto\n", "a.yaml").cache_recompute_auto);
  CHECK_THROWS_WITH(policy_from_yaml("cache_recompute_percent: lots\n", "b.yaml"),
                    Catch::Contains("b.yaml") && Catch::Contains("a number or auto"));
}

TEST_CASE("policy YAML errors name the source and the key", "[policy]") {
  using Catch::Matchers::Contains;
  CHECK_THAT(error_of("gpu_batch_sise: 4\n"),
             Contains("p.yaml: unknown key 'gpu_batch_sise'") && Contains("known: gpu_batch_size"));
  CHECK_THAT(error_of("gpu_batch_size: 4.5\n"),
             Contains("p.yaml: 'gpu_batch_size' must be an integer, got '4.5'"));
  CHECK_THAT(error_of("gpu_batch_size: [4]\n"),
             Contains("p.yaml: 'gpu_batch_size' must be an integer"));
  CHECK_THAT(error_of("gpu_batch_size:\n"), Contains("'gpu_batch_size' must be an integer"));
  CHECK_THAT(error_of("weights_gpu_percent: half\n"),
             Contains("p.yaml: 'weights_gpu_percent' must be a number, got 'half'"));
  CHECK_THAT(error_of("cpu_attention: maybe\n"),
             Contains("p.yaml: 'cpu_attention' must be true or false, got 'maybe'"));
  CHECK_THAT(error_of("gpu_batch_size: 4\ngpu_batch_size: 8\n"),
             Contains("p.yaml: key 'gpu_batch_size' appears more than once"));
  CHECK_THAT(error_of("gpu_batch_size: [4\n"), Contains("p.yaml: not valid YAML (line"));
  CHECK_THAT(error_of("- 4\n"), Contains("p.yaml: expected a mapping of policy settings"));
  CHECK_THAT(error_of("? [a, b]\n: 1\n"), Contains("p.yaml: line 1: a key must be a plain name"));
  // Validation runs on what was parsed.
  CHECK_THAT(error_of("gpu_batch_size: 0\n"),
             Contains("p.yaml: 'gpu_batch_size' must be at least 1, got 0"));
  CHECK_THAT(error_of("num_gpu_batches: -2\n"),
             Contains("p.yaml: 'num_gpu_batches' must be at least 1, got -2"));
  CHECK_THAT(error_of("cache_cpu_percent: 101\ncache_gpu_percent: 0\n"),
             Contains("p.yaml: 'cache_cpu_percent' must be a percentage in [0, 100], got 101"));
  CHECK_THAT(error_of("weights_gpu_percent: -1\n"),
             Contains("'weights_gpu_percent' must be a percentage in [0, 100], got -1"));
  CHECK_THAT(error_of("activations_gpu_percent: .nan\n"),
             Contains("'activations_gpu_percent' must be a percentage in [0, 100]"));
  CHECK_THAT(error_of("weights_cpu_percent: 30\n"),
             Contains("p.yaml: weights_gpu_percent + weights_cpu_percent is 130 (100 + 30), "
                      "more than 100"));
}

TEST_CASE("validate checks every field of a policy built in code", "[policy]") {
  using Catch::Matchers::Contains;
  auto error_of_policy = [](const Policy& p) -> std::string {
    try {
      validate(p, "code");
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  Policy p;
  CHECK(error_of_policy(p) == "(no error)");
  p.gpu_batch_size = int64_t{1} << 40;
  CHECK_THAT(error_of_policy(p), Contains("code: gpu_batch_size * num_gpu_batches"));
  p = Policy{};
  p.cache_gpu_percent = 60;
  p.cache_cpu_percent = 50;
  CHECK_THAT(error_of_policy(p),
             Contains("cache_gpu_percent + cache_cpu_percent is 110 (60 + 50)"));
  p = Policy{};
  p.activations_gpu_percent = 70;
  p.activations_cpu_percent = 40;
  CHECK_THAT(error_of_policy(p),
             Contains("activations_gpu_percent + activations_cpu_percent is 110"));
  p = Policy{};
  p.weights_cpu_percent = 100.5;
  CHECK_THAT(error_of_policy(p), Contains("'weights_cpu_percent' must be a percentage"));
}

TEST_CASE("the example policies in configs/policies load", "[policy]") {
  const std::filesystem::path folder = std::filesystem::path(ALISA_SOURCE_DIR) / "configs/policies";
  const Policy opt30 = load_policy(folder / "opt-30b-flexgen.yaml");
  CHECK(opt30.gpu_batch_size == 48);
  CHECK(opt30.weights_gpu_percent == 18);
  CHECK(opt30.cpu_attention);
  const Policy opt67 = load_policy(folder / "opt-6.7b-flexgen.yaml");
  CHECK(opt67.gpu_batch_size == 64);
  const Policy disk = load_policy(folder / "disk-offload-compressed.yaml");
  CHECK(disk.weights_disk_percent() == 50);
  CHECK(disk.compress_weights);
  CHECK_THROWS_WITH(load_policy(folder / "missing.yaml"),
                    Catch::Matchers::Contains("missing.yaml does not exist"));
}

TEST_CASE("footprint of OPT-6.7B and LLaMA-2-7B by hand", "[policy]") {
  // OPT-6.7B: d 4096, f 16384, 32 layers, V 50272, 2048 + 2 positions, tied head, LayerNorm,
  // biases. A layer: 4 d^2 + 2 d f = 12 d^2 = 201326592 matrix parameters; biases 4d + f + d and
  // two LayerNorms 4d = 53248 vector parameters; 201379840 in all, 402759680 f16 bytes.
  // Global: V d + 2050 d = 214310912 matrix + a final LayerNorm 2d = 214319104 parameters.
  const ModelFootprint opt = footprint_from_sizes({.n_layers = 32,
                                                   .hidden_size = 4096,
                                                   .q_dim = 4096,
                                                   .kv_dim = 4096,
                                                   .n_kv_heads = 32,
                                                   .ffn_dim = 16384,
                                                   .gated_mlp = false,
                                                   .qkv_bias = true,
                                                   .o_bias = true,
                                                   .mlp_bias = true,
                                                   .layer_norm = true,
                                                   .final_norm = true,
                                                   .vocab_size = 50272,
                                                   .embed_dim = 4096,
                                                   .tie_word_embeddings = true,
                                                   .learned_positions = true,
                                                   .position_offset = 2,
                                                   .max_positions = 2048});
  CHECK(opt.layer_matrix_params == 201326592);
  CHECK(opt.layer_vector_params == 53248);
  CHECK(opt.layer_weight_bytes == 402759680);
  CHECK(opt.global_matrix_params == 214310912);
  CHECK(opt.global_weight_bytes == 428638208);
  CHECK(opt.kv_bytes_per_token_per_layer == 16384);  // K and V: 2 * 4096 * 2 bytes
  CHECK(opt.n_parameters() == 6658473984);           // 32 * 201379840 + 214319104
  CHECK(opt.n_parameters() == named_model_spec("opt-6.7b").n_parameters());
  CHECK(alisa::model_footprint(named_model_spec("opt-6.7b")).layer_weight_bytes ==
        opt.layer_weight_bytes);

  // LLaMA-2-7B: d 4096, f 11008 (SwiGLU), 32 layers, V 32000, untied, RMSNorm, no biases.
  // A layer: 4 d^2 + 3 d f = 202375168 + two RMSNorms 2d = 202383360 parameters, 404766720 bytes.
  // Global: 2 V d = 262144000 + final norm d = 262148096 parameters, 524296192 bytes.
  const ModelFootprint llama = alisa::model_footprint(named_model_spec("llama-2-7b"));
  CHECK(llama.layer_matrix_params == 202375168);
  CHECK(llama.layer_vector_params == 8192);
  CHECK(llama.layer_weight_bytes == 404766720);
  CHECK(llama.global_weight_bytes == 524296192);
  CHECK(llama.kv_bytes_per_token_per_layer == 16384);
  CHECK(llama.n_parameters() == 6738415616);
  CHECK(llama.gated_mlp);

  // Every named architecture agrees with ModelSpec's parameter count (GQA, untied, OPT's
  // project_in/out included).
  for (const std::string& name : named_model_names()) {
    INFO(name);
    const ModelSpec spec = named_model_spec(name);
    CHECK(alisa::model_footprint(spec).n_parameters() == spec.n_parameters());
  }
  CHECK_THROWS_AS(footprint_from_sizes({}), Error);
}

TEST_CASE("plan_memory by hand: percentages, double buffering and workspace", "[policy]") {
  // s 10, n 6 (16 tokens), b 2, B 6, weights 25/50/25, cache 50/25/25, activations on the GPU.
  const MemoryPlan plan = plan_memory(tiny(), {.prompt_len = 10, .gen_len = 6}, tiny_policy());
  // The layers' 4 * 13000 = 52000 split 25/50/25; the globals' 128000 on the GPU.
  CHECK(plan.gpu.weights == 13000 + 128000);
  CHECK(plan.cpu.weights == 26000);
  CHECK(plan.disk.weights == 13000);
  // 4 layers * 3 GPU batches = 12 units of K and V, Kb = 2 * 16 * 512 = 16384 each, homed
  // 50/25/25 by error diffusion: 6, 3 and 3 units.
  CHECK(plan.gpu.cache == 6 * 16384);
  CHECK(plan.cpu.cache == 3 * 16384);
  CHECK(plan.disk.cache == 3 * 16384);
  // 3 GPU batches of hidden states, hb = 2 * 10 * 128 * 2 = 5120 each
  CHECK(plan.gpu.activations == 15360);
  CHECK(plan.cpu.activations == 0);
  CHECK(plan.disk.activations == 0);
  // streamed weights 2 * (13000 - 3250) = 19500; KV slots 2 * Kb = 32768; prefill scratch 2 * 10 *
  // (2 * 128 + 2 * 128 + 2 * 128 + 512) * 2 = 51200; inputs 3 * (2 * 10 * 8 + 2 * 16) = 576 (ids,
  // positions, key mask); head 2 * 128 * 2 + 6 * 1000 * 4 + 2 * 1000 * 2 + 12 * 6 = 28584 (the
  // last rows, the block's f32 logits, one GPU batch's f16 staging, sampling keys and tokens).
  CHECK(plan.gpu.workspace == 19500 + 32768 + 51200 + 576 + 28584);
  // 2 * the 25% of a layer on disk; the cache's disk share needs the stagings: max(Kb / 2, hb =
  // 2 * 10 * 128 * 2) + 2 * (Kb + hb) = 8192 + 2 * (16384 + 5120).
  CHECK(plan.cpu.workspace == 6500 + 8192 + 2 * (16384 + 5120));
  CHECK(plan.disk.workspace == 0);
  CHECK(plan.gpu.total() == 141000 + 98304 + 15360 + 132628);

  // A percentage not exact in binary still splits to the nearest byte.
  Policy third = tiny_policy();
  third.weights_gpu_percent = 33.3;
  third.weights_cpu_percent = 66.7;
  const MemoryPlan p3 = plan_memory(tiny(), {.prompt_len = 10, .gen_len = 6}, third);
  CHECK(p3.gpu.weights == 17316 + 128000);  // 33.3% of 52000 is 17316 exactly
  CHECK(p3.cpu.weights == 34684);
  CHECK(p3.disk.weights == 0);

  // Phase III: half the 16 positions (8 <= s) of each CPU home are hidden states of 2d = 256
  // bytes instead of Kt = 512: 3 * (16384 - 2 * 8 * 512 + 2 * 8 * 256).
  Policy recompute = tiny_policy();
  recompute.cache_recompute_percent = 50;
  const MemoryPlan p4 = plan_memory(tiny(), {.prompt_len = 10, .gen_len = 6}, recompute);
  CHECK(p4.cpu.cache == 36864);
  CHECK(p4.gpu.cache == 98304);
  // At most the prompt's positions: 90% of 16 is 14, capped at s = 10.
  recompute.cache_recompute_percent = 90;
  CHECK(plan_memory(tiny(), {.prompt_len = 10, .gen_len = 6}, recompute).cpu.cache ==
        49152 / 16 * 6 + 49152 / 16 * 10 / 2);
}

TEST_CASE("plan_memory by hand: compressed weights and cache, CPU attention", "[policy]") {
  Policy p = tiny_policy();
  p.compress_weights = true;
  p.compress_cache = true;
  p.cpu_attention = true;
  p.activations_gpu_percent = 0;
  p.activations_cpu_percent = 50;
  const ModelFootprint f = tiny();
  // int4: 6400 / 2 + 4 * (6400 / 64) = 3600, + f16 vectors 200 -> 3800 a layer; the globals
  // stay f16. int8 KV: 2 * (128 + 4 * 2 heads) = 272 bytes a token and layer.
  CHECK(stored_layer_weight_bytes(f, true) == 3800);
  CHECK(stored_kv_bytes_per_token_per_layer(f, true) == 272);
  CHECK(stored_layer_weight_bytes(f, false) == 13000);
  const MemoryPlan plan = plan_memory(f, {.prompt_len = 10, .gen_len = 6}, p);
  // The layers' 4 * 3800 = 15200 split 25/50/25; the f16 globals' 128000 on the GPU.
  CHECK(plan.gpu.weights == 3800 + 128000);
  CHECK(plan.cpu.weights == 7600);
  CHECK(plan.disk.weights == 3800);
  // One unit's K as stored: int8 values 16 * 4 rows * 64 = 4096, then f16 scales and zeros of
  // 16 * 4 * 2 = 128 bytes each on 256-byte bounds: 4608; Kb = 9216. Units 6/3/3 as above.
  CHECK(plan.gpu.cache == 6 * 9216);
  CHECK(plan.cpu.cache == 3 * 9216);
  CHECK(plan.disk.cache == 3 * 9216);
  // 3 GPU batches 0/50/50 by error diffusion: CPU, disk, CPU.
  CHECK(plan.gpu.activations == 0);
  CHECK(plan.cpu.activations == 2 * 5120);
  CHECK(plan.disk.activations == 5120);
  // streamed weights 2 * (3800 - 950) = 5700; dequantised layer 13000; KV slots 2 * 9216
  // (allocated with CPU attention too); hidden slots 2 * 5120; prefill scratch 51200; inputs 576;
  // head 28584; dequantised KV 2 * 2 * 16 * 128 * 2 = 16384.
  CHECK(plan.gpu.workspace == 5700 + 13000 + 18432 + 10240 + 51200 + 576 + 28584 + 16384);
  // 2 * (3800 - 950 - 1900) staging; the disk stagings max(4608, hb = 5120) + 2 * (9216 + 5120);
  // for CPU attention the dequantised KV and two sets of q, k, v and output,
  // 2 * 2 * (2 * 128 + 2 * 128) * 2 = 4096.
  CHECK(plan.cpu.workspace == 1900 + 5120 + 2 * (9216 + 5120) + 16384 + 4096);
}

TEST_CASE("plan_memory refuses a workload it cannot plan", "[policy]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(plan_memory(tiny(), {.prompt_len = 0, .gen_len = 4}, Policy{}),
                    Contains("prompt_len must be at least 1"));
  CHECK_THROWS_WITH(plan_memory(tiny(), {.prompt_len = 4, .gen_len = -1}, Policy{}),
                    Contains("gen_len must be at least 0"));
  CHECK_THROWS_WITH(plan_memory(tiny(), {.prompt_len = 2000, .gen_len = 49}, Policy{}),
                    Contains("(2000 + 49) is more than the model's max_positions 2048"));
  Policy bad;
  bad.gpu_batch_size = 0;
  CHECK_THROWS_AS(plan_memory(tiny(), {.prompt_len = 4, .gen_len = 4}, bad), Error);
}

TEST_CASE("check_fits names the tier, every term and the cap", "[policy]") {
  auto gib = [](double x) { return static_cast<uint64_t>(x * static_cast<double>(kGiB)); };
  MemoryPlan plan;
  plan.gpu = {.weights = gib(12.1), .cache = gib(5.2), .activations = gib(1.0), .workspace = 0};
  plan.cpu = {.weights = gib(40), .cache = gib(30), .activations = 0, .workspace = gib(1)};
  CHECK_NOTHROW(check_fits(plan, {}, "policy"));  // no caps
  CHECK_NOTHROW(check_fits(plan, {.gpu_bytes = gib(20), .cpu_bytes = gib(80)}, "policy"));
  CHECK_THROWS_WITH(check_fits(plan, {.gpu_bytes = gib(14.5)}, "policy"),
                    "policy needs 18.3 GiB of GPU memory (weights 12.1 GiB, KV cache 5.2 GiB, "
                    "activations 1.0 GiB, workspace 0.0 GiB) but gpu_memory_limit is 14.5 GiB");
  CHECK_THROWS_WITH(
      check_fits(plan, {.gpu_bytes = gib(14.5), .cpu_bytes = gib(64)}, "policy x.yaml"),
      Catch::Matchers::Contains("policy x.yaml needs 18.3 GiB of GPU memory") &&
          Catch::Matchers::Contains("; and 71.0 GiB of CPU memory (weights 40.0 GiB, KV cache "
                                    "30.0 GiB, activations 0.0 GiB, workspace 1.0 GiB) but "
                                    "cpu_memory_limit is 64.0 GiB"));
  plan.disk.weights = 3000;
  CHECK_THROWS_WITH(check_fits(plan, {.disk_bytes = 2048}, "policy"),
                    "policy needs 2.9 KiB of disk space (weights 2.9 KiB, KV cache 0.0 KiB, "
                    "activations 0.0 KiB, workspace 0.0 KiB) but disk_limit is 2.0 KiB");
  CHECK(bytes_text(512) == "512 B");
  CHECK(bytes_text(1536) == "1.5 KiB");
  CHECK(bytes_text(gib(14.5)) == "14.5 GiB");
}

// Below 100%: the first unit (weight tensor, cache unit, GPU batch of hidden states) to leave the
// GPU brings the runner's streaming slots with it; from there on GPU bytes only fall.
TEST_CASE("moving a percentage from GPU to CPU never increases GPU bytes", "[policy]") {
  const ModelFootprint opt30 = alisa::model_footprint(named_model_spec("opt-30b"));
  for (const ModelFootprint& model : {tiny(), opt30}) {
    for (int kind = 0; kind < 3; ++kind) {
      for (bool compress : {false, true}) {
        uint64_t previous = UINT64_MAX;
        for (int gpu = 95; gpu >= 0; gpu -= 5) {
          Policy p;
          p.gpu_batch_size = 8;
          p.num_gpu_batches = 2;
          p.compress_weights = compress;
          p.compress_cache = compress;
          double* gpu_percent[] = {&p.weights_gpu_percent, &p.cache_gpu_percent,
                                   &p.activations_gpu_percent};
          double* cpu_percent[] = {&p.weights_cpu_percent, &p.cache_cpu_percent,
                                   &p.activations_cpu_percent};
          *gpu_percent[kind] = gpu;
          *cpu_percent[kind] = 100 - gpu;
          const uint64_t total =
              plan_memory(model, {.prompt_len = 64, .gen_len = 32}, p).gpu.total();
          // Caches and hidden states are homed whole per unit and GPU batch: until one leaves,
          // the plan has no slots for them yet.
          const std::vector<Tier> homes =
              kind == 1 ? kv_unit_homes(p, model.n_layers * p.num_gpu_batches) : hidden_homes(p);
          if (kind > 0 && count_on(homes, Tier::kCompute) == static_cast<int64_t>(homes.size())) {
            continue;
          }
          INFO("kind " << kind << " gpu " << gpu << "% compress " << compress);
          CHECK(total <= previous);
          previous = total;
        }
      }
    }
  }
}

// alisa keeps OPT-30B's global weights (1.4 GB) on the GPU, so the policy keeps 18% of the layers
// there where FlexGen keeps 20% of everything; but alisa's prefill runs a GPU batch's whole
// prompt step at once, and 48 x 512 tokens of scratch (3.4 GiB) and the hidden-state slots do
// not fit beside them: the plan says so, term by term.
TEST_CASE("FlexGen's OPT-30B policy does not fit alisa's prefill in 14.5 GiB", "[policy]") {
  const std::filesystem::path file =
      std::filesystem::path(ALISA_SOURCE_DIR) / "configs/policies/opt-30b-flexgen.yaml";
  const MemoryPlan plan = plan_memory(alisa::model_footprint(named_model_spec("opt-30b")),
                                      {.prompt_len = 512, .gen_len = 32}, load_policy(file));
  INFO("GPU " << bytes_text(plan.gpu.total()) << ", CPU " << bytes_text(plan.cpu.total()));
  CHECK_THROWS_WITH(
      check_fits(plan, {.gpu_bytes = 29 * kGiB / 2, .cpu_bytes = 125 * kGiB}, "policy"),
      Catch::Matchers::Contains("of GPU memory") && Catch::Matchers::Contains("workspace 7.") &&
          !Catch::Matchers::Contains("of CPU memory"));
  CHECK(plan.disk.total() == 0);
}

}  // namespace alisa
