// The families that share LLaMA's layout (mistral, qwen2, qwen3), read from the fixtures'
// config.json and generation_config.json and from edited copies: each family's flags, the
// parameter count against the weight layout, the checkpoint and the footprint, the sliding window
// as Hugging Face applies it, the stop tokens, and what is refused (unknown model types, mixtures
// of experts, mismatched architectures, rope types alisa does not implement, runs longer than the
// window).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/base/common.h"
#include "runtime/model/model_spec.h"
#include "runtime/model/weights.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

using Catch::Contains;
using Json = nlohmann::json;

const char* const kSource = "models/x/config.json";

Json fixture_config(const std::string& name) {
  return Json::parse(read_text(fixture_path(name) / "config.json"));
}

ModelSpec parse(const Json& config) {
  return model_spec_from_json(config.dump(), kSource);
}

// The alisa::Error message parsing `config` gives (the test fails when it parses).
std::string refusal(const Json& config) {
  try {
    parse(config);
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("the config parsed: " << config.dump());
  return {};
}

bool has_slot(const ModelSpec& spec, const std::string& name, std::vector<int64_t> shape) {
  for (const WeightSlot& slot : weight_layout(spec)) {
    if (slot.name == name) return slot.shape == shape;
  }
  return false;
}

}  // namespace

TEST_CASE("qwen2-tiny: biases on q, k and v but not on o, tied embeddings", "[model_spec]") {
  const ModelSpec spec = load_model_spec(fixture_path("qwen2-tiny"));
  CHECK(spec.family == ModelFamily::kQwen2);
  CHECK(spec.qkv_bias);
  CHECK_FALSE(spec.o_bias);
  CHECK_FALSE(spec.mlp_bias);
  CHECK_FALSE(spec.qk_norm);
  CHECK(spec.tie_word_embeddings);
  CHECK(spec.n_heads == 4);
  CHECK(spec.n_kv_heads == 2);
  CHECK(spec.head_dim == 16);
  CHECK(spec.norm_eps == 1e-6f);
  CHECK(spec.rope_theta == 1e6f);
  CHECK(spec.sliding_window == 0);  // use_sliding_window false
  CHECK(has_slot(spec, "model.layers.1.self_attn.v_proj.bias", {32}));
  CHECK_FALSE(has_slot(spec, "model.layers.1.self_attn.o_proj.bias", {64}));
  CHECK_FALSE(has_slot(spec, "lm_head.weight", {512, 64}));
  const int64_t per_layer = 64 * 64 + 2 * 64 * 32 + 64 * 64 + (64 + 2 * 32) + 3 * 64 * 176 + 2 * 64;
  CHECK(spec.n_parameters() == 2 * per_layer + 512 * 64 + 64);
}

TEST_CASE("qwen3-tiny: per-head q and k norms, head_dim 32 over hidden 64 and 4 heads",
          "[model_spec]") {
  const ModelSpec spec = load_model_spec(fixture_path("qwen3-tiny"));
  CHECK(spec.family == ModelFamily::kQwen3);
  CHECK(spec.qk_norm);
  CHECK_FALSE(spec.qkv_bias);  // attention_bias false
  CHECK_FALSE(spec.o_bias);
  CHECK(spec.head_dim == 32);
  CHECK(spec.q_dim() == 128);
  CHECK(spec.kv_dim() == 64);
  CHECK(spec.rope_inv_freq.size() == 16);
  CHECK(has_slot(spec, "model.layers.0.self_attn.q_norm.weight", {32}));
  CHECK(has_slot(spec, "model.layers.0.self_attn.k_norm.weight", {32}));
  CHECK(has_slot(spec, "model.layers.0.self_attn.o_proj.weight", {64, 128}));
  const int64_t per_layer = 64 * 128 + 2 * 64 * 64 + 128 * 64 + 2 * 32 + 3 * 64 * 160 + 2 * 64;
  CHECK(spec.n_parameters() == 2 * per_layer + 512 * 64 + 64);
}

TEST_CASE("mistral-tiny: GQA 8:2 without biases, sliding_window null", "[model_spec]") {
  const ModelSpec spec = load_model_spec(fixture_path("mistral-tiny"));
  CHECK(spec.family == ModelFamily::kMistral);
  CHECK(spec.n_heads == 8);
  CHECK(spec.n_kv_heads == 2);
  CHECK(spec.head_dim == 8);
  CHECK_FALSE(spec.qkv_bias);
  CHECK_FALSE(spec.o_bias);
  CHECK_FALSE(spec.qk_norm);
  CHECK_FALSE(spec.tie_word_embeddings);
  CHECK(spec.sliding_window == 0);
}

TEST_CASE("every fixture's parameter count is its checkpoint's, layout's and footprint's",
          "[model_spec]") {
  const std::string name = GENERATE(from_range(fixture_model_names()));
  INFO(name);
  const ModelSpec spec = load_model_spec(fixture_path(name));
  const std::vector<WeightSlot> layout = weight_layout(spec);
  open_checkpoint_weights(fixture_path(name))->validate(layout);  // every tensor, its shape
  int64_t n = 0;
  for (const WeightSlot& slot : layout) {
    int64_t numel = 1;
    for (int64_t d : slot.shape) numel *= d;
    n += numel;
  }
  CHECK(spec.n_parameters() == n);
  CHECK(model_footprint(spec).n_parameters() == n);
}

TEST_CASE("per-family keys and defaults follow Hugging Face's config classes", "[model_spec]") {
  SECTION("Qwen3 without head_dim: its config class's 128") {
    Json config = fixture_config("qwen3-tiny");
    config.erase("head_dim");
    CHECK(parse(config).head_dim == 128);
  }
  SECTION("LLaMA and Qwen3 with attention_bias: all four projections; Qwen2 keeps o bare") {
    for (const char* name : {"llama-tiny", "qwen3-tiny", "qwen2-tiny"}) {
      INFO(name);
      Json config = fixture_config(name);
      config["attention_bias"] = true;
      const ModelSpec spec = parse(config);
      CHECK(spec.qkv_bias);
      CHECK(spec.o_bias == (std::string(name) != "qwen2-tiny"));
    }
  }
  SECTION("Mistral's null head_dim is hidden_size / num_attention_heads") {
    Json config = fixture_config("mistral-tiny");
    config["head_dim"] = nullptr;
    CHECK(parse(config).head_dim == 8);
  }
  SECTION("the KV heads are required where the config class's default would not fit") {
    for (const char* name : {"mistral-tiny", "qwen2-tiny", "qwen3-tiny"}) {
      Json config = fixture_config(name);
      config.erase("num_key_value_heads");
      CHECK_THAT(refusal(config), Contains("missing key 'num_key_value_heads'"));
    }
  }
}

TEST_CASE("the sliding window is where Hugging Face applies one", "[model_spec]") {
  SECTION("Mistral: every layer; null is none, absent is the config class's 4096") {
    Json config = fixture_config("mistral-tiny");
    CHECK(parse(config).sliding_window == 0);
    config["sliding_window"] = 32;
    CHECK(parse(config).sliding_window == 32);
    config.erase("sliding_window");
    CHECK(parse(config).sliding_window == 4096);
    config["sliding_window"] = 0;
    CHECK_THAT(refusal(config), Contains("'sliding_window' must be positive"));
  }
  SECTION("Qwen: only with use_sliding_window, on the layers from max_window_layers") {
    Json config = fixture_config("qwen2-tiny");
    config.erase("layer_types");
    config["sliding_window"] = 32;
    CHECK(parse(config).sliding_window == 0);  // use_sliding_window false
    config["use_sliding_window"] = true;
    CHECK(parse(config).sliding_window == 0);  // max_window_layers 28 of 2 layers: none slides
    config["max_window_layers"] = 1;
    CHECK(parse(config).sliding_window == 32);
  }
  SECTION("Qwen: or on the layers layer_types marks sliding_attention") {
    Json config = fixture_config("qwen3-tiny");
    config["sliding_window"] = 32;
    config["use_sliding_window"] = true;
    CHECK(parse(config).sliding_window == 0);  // both full_attention
    config["layer_types"] = {"full_attention", "sliding_attention"};
    CHECK(parse(config).sliding_window == 32);
    config["layer_types"] = {"full_attention", "chunked_attention"};
    CHECK_THAT(refusal(config), Contains("'layer_types' entry 'chunked_attention'"));
    config["layer_types"] = {"full_attention"};
    CHECK_THAT(refusal(config), Contains("'layer_types' has 1 entries for 2 layers"));
  }
  SECTION("LLaMA has none") {
    Json config = fixture_config("llama-tiny");
    config["sliding_window"] = 32;
    CHECK(parse(config).sliding_window == 0);
  }
  SECTION("a run is refused past the window, naming sliding_window") {
    Json config = fixture_config("mistral-tiny");
    config["sliding_window"] = 16;
    const ModelSpec spec = parse(config);
    check_within_sliding_window(spec, 16);
    REQUIRE_THROWS_AS(check_within_sliding_window(spec, 17), Error);
    REQUIRE_THROWS_WITH(check_within_sliding_window(spec, 17),
                        Contains("17 positions") && Contains("sliding_window is 16"));
    check_within_sliding_window(load_model_spec(fixture_path("mistral-tiny")), 1 << 20);
  }
}

TEST_CASE("configs alisa cannot run are refused, naming the key", "[model_spec]") {
  SECTION("a mixture of experts (mixtral-tiny)") {
    REQUIRE_THROWS_AS(load_model_spec(fixture_path("mixtral-tiny")), Error);
    REQUIRE_THROWS_WITH(load_model_spec(fixture_path("mixtral-tiny")),
                        Contains("config.json") && Contains("model_type 'mixtral'") &&
                            Contains("num_local_experts") && Contains("does not run yet"));
  }
  SECTION("an unknown model_type lists the families") {
    Json config = fixture_config("qwen2-tiny");
    config["model_type"] = "gemma";
    CHECK_THAT(refusal(config), Contains(kSource) && Contains("model_type 'gemma'") &&
                                    Contains("opt, llama, mistral, qwen2, qwen3"));
  }
  SECTION("architectures that do not match the model_type") {
    Json config = fixture_config("qwen2-tiny");
    config["architectures"] = {"LlamaForCausalLM"};
    CHECK_THAT(refusal(config), Contains("'architectures' names 'LlamaForCausalLM'") &&
                                    Contains("Qwen2ForCausalLM"));
    config["architectures"] = {"Qwen2ForSequenceClassification"};
    CHECK_THAT(refusal(config), Contains("'Qwen2ForSequenceClassification'"));
    config["architectures"] = "Qwen2ForCausalLM";
    CHECK_THAT(refusal(config), Contains("'architectures' must be a list of strings"));
  }
  SECTION("rope types alisa does not implement") {
    for (const char* type : {"yarn", "dynamic", "longrope"}) {
      Json config = fixture_config("qwen3-tiny");
      config["rope_parameters"]["rope_type"] = type;
      config["rope_parameters"]["factor"] = 4.0;
      CHECK_THAT(refusal(config), Contains(std::string("unsupported rope_type '") + type +
                                           "' in 'rope_parameters'"));
    }
    Json config = fixture_config("mistral-tiny");
    config["rope_parameters"]["partial_rotary_factor"] = 0.5;
    CHECK_THAT(refusal(config), Contains("partial_rotary_factor 0.5"));
  }
}

TEST_CASE("stop tokens come from generation_config.json as Hugging Face's generate reads them",
          "[model_spec]") {
  ScratchDir dir;
  Json config = fixture_config("qwen2-tiny");  // eos_token_id 2
  config.erase("bos_token_id");
  config.erase("pad_token_id");
  write_text(dir / "config.json", config.dump());
  const auto with_generation_config = [&](const Json& generation) {
    write_text(dir / "generation_config.json", generation.dump());
    return load_model_spec(dir.path());
  };
  SECTION("without one: config.json's") {
    CHECK(load_model_spec(dir.path()).eos_token_ids == std::vector<int32_t>{2});
  }
  SECTION("a list replaces config.json's id") {
    const ModelSpec spec = with_generation_config({{"eos_token_id", {7, 2}}});
    CHECK(spec.eos_token_ids == std::vector<int32_t>{7, 2});
  }
  SECTION("so does one id") {
    CHECK(with_generation_config({{"eos_token_id", 9}}).eos_token_ids == std::vector<int32_t>{9});
  }
  SECTION("none (or null) keeps config.json's") {
    CHECK(with_generation_config({{"eos_token_id", nullptr}}).eos_token_ids ==
          std::vector<int32_t>{2});
  }
  SECTION("bos and pad fill in where config.json has none, and only there") {
    ModelSpec spec = with_generation_config({{"bos_token_id", 1}, {"pad_token_id", 3}});
    CHECK(spec.bos_token_id == 1);
    CHECK(spec.pad_token_id == 3);
    config["pad_token_id"] = 0;
    write_text(dir / "config.json", config.dump());
    spec = load_model_spec(dir.path());
    CHECK(spec.pad_token_id == 0);
    CHECK(spec.bos_token_id == 1);
  }
  SECTION("an id outside the vocabulary names the file") {
    write_text(dir / "generation_config.json", Json{{"eos_token_id", {2, 512}}}.dump());
    REQUIRE_THROWS_WITH(load_model_spec(dir.path()),
                        Contains("generation_config.json") && Contains("eos_token_id 512"));
    write_text(dir / "generation_config.json", "{\"eos_token_id\": ");
    REQUIRE_THROWS_WITH(load_model_spec(dir.path()),
                        Contains("generation_config.json") && Contains("not valid JSON"));
  }
  SECTION("the fixtures' own (opt-tiny has none)") {
    for (const std::string& name : fixture_model_names()) {
      INFO(name);
      CHECK(load_model_spec(fixture_path(name)).eos_token_ids == std::vector<int32_t>{2});
    }
  }
}

}  // namespace alisa::test
