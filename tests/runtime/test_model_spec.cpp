// ModelSpec: HF config.json -> architecture numbers, the compiled-in named architectures and their
// parameter counts, rope frequencies (default, linear, llama3) and the errors a user can fix.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numbers>
#include <string>
#include <vector>

#include "runtime/base/common.h"
#include "runtime/model/model_spec.h"
#include "tests/test_support.h"

using alisa::model_spec_from_json;
using alisa::ModelSpec;
using alisa::named_model_spec;
using alisa::test::fixture_path;
using Catch::Contains;
using Json = nlohmann::json;

namespace {

const char* const kSource = "models/x/config.json";

Json opt_config() {
  return Json{{"model_type", "opt"},
              {"vocab_size", 512},
              {"hidden_size", 64},
              {"num_hidden_layers", 2},
              {"num_attention_heads", 4},
              {"ffn_dim", 256},
              {"max_position_embeddings", 128},
              {"eos_token_id", 2}};
}

// LLaMA-3-8B's shapes.
Json llama_config() {
  return Json{{"model_type", "llama"},      {"vocab_size", 1000},
              {"hidden_size", 4096},        {"num_hidden_layers", 1},
              {"num_attention_heads", 32},  {"num_key_value_heads", 8},
              {"intermediate_size", 14336}, {"max_position_embeddings", 8192},
              {"rope_theta", 500000.0}};
}

ModelSpec parse(const Json& config) {
  return model_spec_from_json(config.dump(), kSource);
}

// HF's default rope frequencies in double: theta ^ (-2i / head_dim).
std::vector<double> default_inv_freq(double theta, int64_t head_dim) {
  std::vector<double> inv_freq;
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    inv_freq.push_back(1.0 / std::pow(theta, static_cast<double>(2 * i) / head_dim));
  }
  return inv_freq;
}

// transformers' _compute_llama3_parameters, written as HF writes it (torch.where over masks).
std::vector<double> llama3_inv_freq(const std::vector<double>& inv_freq, double factor, double low,
                                    double high, double old_context) {
  std::vector<double> out;
  for (double f : inv_freq) {
    const double wavelen = 2 * std::numbers::pi / f;
    const double scaled = wavelen > old_context / low ? f / factor : f;
    const double smooth = (old_context / wavelen - low) / (high - low);
    const double smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
    const bool medium = !(wavelen < old_context / high) && !(wavelen > old_context / low);
    out.push_back(medium ? smoothed : scaled);
  }
  return out;
}

void check_inv_freq(const ModelSpec& spec, const std::vector<double>& expected) {
  REQUIRE(spec.rope_inv_freq.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("inv_freq[" << i << "]");
    CHECK(spec.rope_inv_freq[i] == Approx(expected[i]).epsilon(1e-5));
  }
}

// The config must be rejected with an alisa::Error naming the source and matching `matcher`.
template <typename Matcher>
void require_config_error(const Json& config, const Matcher& matcher) {
  REQUIRE_THROWS_AS(parse(config), alisa::Error);
  REQUIRE_THROWS_WITH(parse(config), Contains(kSource) && matcher);
}

}  // namespace

TEST_CASE("opt-tiny config.json parses to its architecture", "[model_spec]") {
  const ModelSpec spec = alisa::load_model_spec(fixture_path("opt-tiny"));
  CHECK(spec.name == fixture_path("opt-tiny").string());
  CHECK(spec.family == alisa::ModelFamily::kOpt);
  CHECK(spec.vocab_size == 512);
  CHECK(spec.hidden_size == 64);
  CHECK(spec.n_layers == 2);
  CHECK(spec.n_heads == 4);
  CHECK(spec.n_kv_heads == 4);
  CHECK(spec.head_dim == 16);
  CHECK(spec.ffn_dim == 256);
  CHECK(spec.max_positions == 128);
  CHECK(spec.norm == alisa::NormKind::kLayerNorm);
  CHECK(spec.norm_eps == 1e-5f);
  CHECK(spec.activation == alisa::Activation::kRelu);
  CHECK_FALSE(spec.gated_mlp);
  CHECK(spec.tie_word_embeddings);
  CHECK(spec.qkv_bias);
  CHECK(spec.o_bias);
  CHECK(spec.mlp_bias);
  CHECK(spec.learned_positions);
  CHECK(spec.position_offset == 2);
  CHECK(spec.word_embed_proj_dim == 64);
  CHECK(spec.norm_before);
  CHECK(spec.final_norm);
  CHECK(spec.rope_inv_freq.empty());
  CHECK(spec.pad_token_id == 1);
  CHECK(spec.bos_token_id == 2);
  CHECK(spec.eos_token_ids == std::vector<int32_t>{2});
  CHECK(spec.q_dim() == 64);
  CHECK(spec.kv_dim() == 64);
  // Counted by hand from the checkpoint's 36 tensors (no lm_head: tied).
  const int64_t per_layer = 4 * (64 * 64 + 64) + (256 * 64 + 256) + (64 * 256 + 64) + 4 * 64;
  CHECK(spec.n_parameters() == 2 * per_layer + 512 * 64 + 130 * 64 + 2 * 64);
}

TEST_CASE("llama-tiny config.json parses to its architecture", "[model_spec]") {
  const ModelSpec spec = alisa::load_model_spec(fixture_path("llama-tiny"));
  CHECK(spec.family == alisa::ModelFamily::kLlama);
  CHECK(spec.vocab_size == 512);
  CHECK(spec.hidden_size == 64);
  CHECK(spec.n_layers == 2);
  CHECK(spec.n_heads == 4);
  CHECK(spec.n_kv_heads == 2);
  CHECK(spec.head_dim == 16);
  CHECK(spec.q_dim() == 64);
  CHECK(spec.kv_dim() == 32);
  CHECK(spec.ffn_dim == 160);
  CHECK(spec.max_positions == 256);
  CHECK(spec.norm == alisa::NormKind::kRmsNorm);
  CHECK(spec.norm_eps == 1e-6f);
  CHECK(spec.activation == alisa::Activation::kSilu);
  CHECK(spec.gated_mlp);
  CHECK_FALSE(spec.tie_word_embeddings);
  CHECK_FALSE(spec.qkv_bias);
  CHECK_FALSE(spec.o_bias);
  CHECK_FALSE(spec.qk_norm);
  CHECK(spec.sliding_window == 0);
  CHECK_FALSE(spec.mlp_bias);
  CHECK_FALSE(spec.learned_positions);
  CHECK(spec.word_embed_proj_dim == 64);
  CHECK(spec.final_norm);
  CHECK(spec.rope_theta == 10000.0f);
  CHECK(spec.pad_token_id == 0);
  CHECK(spec.bos_token_id == 1);
  CHECK(spec.eos_token_ids == std::vector<int32_t>{2});
  // 10000^(-2i/16) in float32 although the checkpoint is stored in float16: Hugging Face keeps
  // inv_freq in float32 whatever dtype the weights load in.
  REQUIRE(spec.rope_inv_freq.size() == 8);
  CHECK(spec.rope_inv_freq[0] == 1.0f);
  const std::vector<double> exact = default_inv_freq(10000.0, 16);
  for (size_t i = 0; i < exact.size(); ++i) {
    INFO("inv_freq[" << i << "]");
    CHECK(spec.rope_inv_freq[i] == static_cast<float>(exact[i]));
  }
  const int64_t per_layer = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 160 + 2 * 64;
  CHECK(spec.n_parameters() == 2 * per_layer + 2 * 512 * 64 + 64);
}

TEST_CASE("llama3-tiny config.json: Llama 3.1's rope scaling from rope_parameters, GQA 4:1",
          "[model_spec]") {
  const ModelSpec spec = alisa::load_model_spec(fixture_path("llama3-tiny"));
  CHECK(spec.family == alisa::ModelFamily::kLlama);
  CHECK(spec.n_heads == 8);
  CHECK(spec.n_kv_heads == 2);
  CHECK(spec.head_dim == 8);
  CHECK(spec.rope_theta == 500000.0f);
  // Its original context of 64 puts the wavelengths of all but the first frequency past the
  // scaling's thresholds (16 and 64): they are divided by 8.
  const std::vector<double> base = default_inv_freq(500000.0, 8);
  check_inv_freq(spec, llama3_inv_freq(base, 8.0, 1.0, 4.0, 64.0));
  CHECK(spec.rope_inv_freq[0] == 1.0f);
  CHECK(spec.rope_inv_freq[1] == Approx(base[1] / 8).epsilon(1e-6));
}

TEST_CASE("every named architecture parses and has its published size", "[model_spec]") {
  struct Published {
    const char* name;
    double n_parameters;
  };
  const Published published[] = {
      {"opt-125m", 125e6},       {"opt-1.3b", 1.3e9},    {"opt-6.7b", 6.7e9},
      {"opt-13b", 13e9},         {"opt-30b", 30e9},      {"opt-66b", 66e9},
      {"opt-175b", 175e9},       {"llama-2-7b", 6.74e9}, {"llama-2-13b", 13.0e9},
      {"llama-2-70b", 69.0e9},   {"llama-3-8b", 8.03e9}, {"llama-3.1-8b", 8.03e9},
      {"llama-3.1-70b", 70.6e9}, {"qwen2.5-7b", 7.61e9}, {"qwen2.5-14b", 14.7e9},
      {"qwen2.5-32b", 32.5e9},   {"qwen3-8b", 8.19e9},   {"qwen3-32b", 32.8e9},
      {"mistral-7b", 7.25e9},
  };
  const std::vector<std::string> names = alisa::named_model_names();
  CHECK(names.size() == std::size(published));
  for (const Published& model : published) {
    INFO(model.name);
    CHECK(std::find(names.begin(), names.end(), model.name) != names.end());
    const ModelSpec spec = named_model_spec(model.name);
    CHECK(spec.name == std::string("dummy:") + model.name);
    // Qwen3-32B's 64 heads of 128 are wider than its hidden size.
    CHECK(spec.q_dim() == (model.name == std::string("qwen3-32b") ? 8192 : spec.hidden_size));
    const double n = static_cast<double>(spec.n_parameters());
    CHECK(std::abs(n - model.n_parameters) <= 0.02 * model.n_parameters);
  }
  // The counts HF reports for these, to the parameter (Qwen2.5's q/k/v biases included).
  CHECK(named_model_spec("opt-125m").n_parameters() == 125'239'296);
  CHECK(named_model_spec("llama-2-7b").n_parameters() == 6'738'415'616);
  CHECK(named_model_spec("llama-3.1-8b").n_parameters() == 8'030'261'248);
  CHECK(named_model_spec("llama-3.1-70b").n_parameters() == 70'553'706'496);
  CHECK(named_model_spec("mistral-7b").n_parameters() == 7'248'023'552);
  CHECK(named_model_spec("qwen2.5-7b").n_parameters() == 7'615'616'512);
  CHECK(named_model_spec("qwen2.5-14b").n_parameters() == 14'770'033'664);
  CHECK(named_model_spec("qwen2.5-32b").n_parameters() == 32'763'876'352);
  CHECK(named_model_spec("qwen3-8b").n_parameters() == 8'190'735'360);  // q_norm, k_norm included
  CHECK(named_model_spec("qwen3-32b").n_parameters() == 32'762'123'264);

  const ModelSpec opt = named_model_spec("opt-6.7b");
  CHECK(opt.family == alisa::ModelFamily::kOpt);
  CHECK(opt.hidden_size == 4096);
  CHECK(opt.n_layers == 32);
  CHECK(opt.head_dim == 128);
  CHECK(opt.ffn_dim == 16384);
  const ModelSpec llama = named_model_spec("llama-2-70b");
  CHECK(llama.n_heads == 64);
  CHECK(llama.n_kv_heads == 8);
  CHECK(llama.kv_dim() == 1024);
  CHECK(llama.norm_eps == 1e-5f);
}

TEST_CASE("OPT-350m's shape: projections, post-LN and no final norm", "[model_spec]") {
  Json config = opt_config();
  config["vocab_size"] = 50272;
  config["hidden_size"] = 1024;
  config["num_hidden_layers"] = 24;
  config["num_attention_heads"] = 16;
  config["ffn_dim"] = 4096;
  config["max_position_embeddings"] = 2048;
  config["word_embed_proj_dim"] = 512;
  config["do_layer_norm_before"] = false;
  const ModelSpec spec = parse(config);
  CHECK(spec.embed_dim() == 512);
  CHECK_FALSE(spec.norm_before);
  CHECK_FALSE(spec.final_norm);
  CHECK(spec.n_parameters() == 331'196'416);  // HF's count for facebook/opt-350m

  config = opt_config();
  config["_remove_final_layer_norm"] = true;
  CHECK_FALSE(parse(config).final_norm);
  config = opt_config();
  config["enable_bias"] = false;
  config["tie_word_embeddings"] = false;
  config["activation_function"] = "gelu";
  const ModelSpec plain = parse(config);
  CHECK_FALSE(plain.qkv_bias);
  CHECK_FALSE(plain.o_bias);
  CHECK_FALSE(plain.mlp_bias);
  CHECK_FALSE(plain.tie_word_embeddings);
  CHECK(plain.activation == alisa::Activation::kGelu);
}

TEST_CASE("rope scaling changes inv_freq as Hugging Face computes it", "[model_spec]") {
  const std::vector<double> base = default_inv_freq(500000.0, 128);
  SECTION("default") {
    const ModelSpec spec = parse(llama_config());
    CHECK(spec.head_dim == 128);
    CHECK(spec.rope_theta == 500000.0f);
    check_inv_freq(spec, base);
    Json config = llama_config();
    config["rope_scaling"] = nullptr;  // HF writes null when there is no scaling
    check_inv_freq(parse(config), base);
  }
  SECTION("linear divides every frequency by the factor") {
    Json config = llama_config();
    config["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
    const ModelSpec spec = parse(config);
    std::vector<double> expected;
    for (double f : base) expected.push_back(f / 4.0);
    check_inv_freq(spec, expected);
    CHECK(spec.rope_inv_freq[0] == 0.25f);
  }
  SECTION("llama3 keeps high frequencies, divides low ones, blends the middle") {
    const Json llama3 = {{"rope_type", "llama3"},
                         {"factor", 8.0},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", 8192}};
    Json config = llama_config();
    config["rope_scaling"] = llama3;
    const ModelSpec spec = parse(config);
    check_inv_freq(spec, llama3_inv_freq(base, 8.0, 1.0, 4.0, 8192.0));
    // By hand: wavelength 2*pi/f against 8192/4 = 2048 and 8192/1 = 8192.
    CHECK(spec.rope_inv_freq[0] == 1.0f);                                          // 6.3: kept
    CHECK(spec.rope_inv_freq[28] == Approx(0.0032114459947525913).epsilon(1e-5));  // 1956: kept
    // i = 32: f = 500000^-0.5 = 1.41421e-3, wavelength 4442.9, smooth = (8192/4442.9 - 1) / 3
    // = 0.28128, f' = f * ((1 - 0.28128) / 8 + 0.28128) = 5.24846e-4.
    CHECK(spec.rope_inv_freq[32] == Approx(5.248461609929547e-4).epsilon(1e-5));
    CHECK(spec.rope_inv_freq[30] == Approx(1.3718935677611381e-3).epsilon(1e-5));
    // i = 63: wavelength 2.56e6 > 8192: divided by 8.
    CHECK(spec.rope_inv_freq[63] == Approx(2.455140791131609e-06 / 8).epsilon(1e-5));

    // transformers v5 spelling: rope_parameters carries the type and theta.
    Json v5 = llama_config();
    v5.erase("rope_theta");
    v5["rope_parameters"] = llama3;
    v5["rope_parameters"]["rope_theta"] = 500000.0;
    const ModelSpec spec_v5 = parse(v5);
    CHECK(spec_v5.rope_theta == 500000.0f);
    CHECK(spec_v5.rope_inv_freq == spec.rope_inv_freq);
  }
  SECTION("bfloat16 checkpoints keep the frequencies in float32") {
    Json config = llama_config();
    config["torch_dtype"] = "bfloat16";
    const ModelSpec spec = parse(config);
    for (size_t i = 0; i < base.size(); ++i) {
      INFO("inv_freq[" << i << "]");
      CHECK(spec.rope_inv_freq[i] == static_cast<float>(base[i]));
    }
  }
}

TEST_CASE("config errors name the source and the key", "[model_spec]") {
  SECTION("not JSON") {
    REQUIRE_THROWS_AS(model_spec_from_json("{\"model_type\": ", kSource), alisa::Error);
    REQUIRE_THROWS_WITH(model_spec_from_json("{\"model_type\": ", kSource),
                        Contains(kSource) && Contains("not valid JSON"));
    REQUIRE_THROWS_WITH(model_spec_from_json("[1, 2]", kSource),
                        Contains(kSource) && Contains("expected a JSON object"));
    // A number beyond double's range: nlohmann's out_of_range, not a parse_error (found by
    // fuzz_model_config).
    REQUIRE_THROWS_AS(model_spec_from_json("{\"rope_theta\": 1e999}", kSource), alisa::Error);
    REQUIRE_THROWS_WITH(model_spec_from_json("{\"rope_theta\": 1e999}", kSource),
                        Contains(kSource) && Contains("number overflow"));
  }
  SECTION("missing key") {
    Json config = opt_config();
    config.erase("ffn_dim");
    require_config_error(config, Contains("missing key 'ffn_dim'"));
    config = llama_config();
    config.erase("intermediate_size");
    require_config_error(config, Contains("missing key 'intermediate_size'"));
    config = opt_config();
    config["vocab_size"] = nullptr;  // null counts as missing
    require_config_error(config, Contains("missing key 'vocab_size'"));
    config = opt_config();
    config.erase("model_type");
    require_config_error(config, Contains("missing key 'model_type'"));
  }
  SECTION("wrong type") {
    Json config = opt_config();
    config["hidden_size"] = "64";
    require_config_error(config, Contains("'hidden_size' must be an integer"));
    config = opt_config();
    config["hidden_size"] = 64.5;
    require_config_error(config, Contains("'hidden_size' must be an integer"));
    config = opt_config();
    config["tie_word_embeddings"] = "yes";
    require_config_error(config, Contains("'tie_word_embeddings' must be true or false"));
    config = llama_config();
    config["rms_norm_eps"] = "1e-6";
    require_config_error(config, Contains("'rms_norm_eps' must be a number"));
    config = opt_config();
    config["model_type"] = 7;
    require_config_error(config, Contains("'model_type' must be a string"));
    config = llama_config();
    config["rope_scaling"] = "linear";
    require_config_error(config, Contains("'rope_scaling' must be an object"));
    config = opt_config();
    config["eos_token_id"] = Json::array({2, "3"});
    require_config_error(config, Contains("'eos_token_id' must be an integer"));
  }
  SECTION("sizes past any model's, before anything is sized by them") {
    Json config = llama_config();
    config["hidden_size"] = int64_t{1} << 40;
    require_config_error(config, Contains("'hidden_size' 1099511627776 is beyond any model's"));
    config = llama_config();
    config["head_dim"] = int64_t{1} << 30;
    require_config_error(config, Contains("'head_dim' 1073741824 is beyond any model's"));
    config = opt_config();
    config["word_embed_proj_dim"] = 0;
    require_config_error(config, Contains("'word_embed_proj_dim' must be positive"));
  }
  SECTION("bad values") {
    Json config = opt_config();
    config["num_hidden_layers"] = 0;
    require_config_error(config, Contains("'num_hidden_layers' must be positive, got 0"));
    config = opt_config();
    config["eos_token_id"] = 512;
    require_config_error(config, Contains("eos_token_id 512") && Contains("vocabulary of 512"));
    config = opt_config();
    config["activation_function"] = "tanh";
    require_config_error(config, Contains("unsupported activation 'tanh'"));
    config = llama_config();
    config["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
    require_config_error(config, Contains("unsupported rope_type 'yarn' in 'rope_scaling'"));
    config = llama_config();
    config["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 0.0}};
    require_config_error(config, Contains("rope factor must be positive"));
  }
  SECTION("unsupported model_type") {
    Json config = opt_config();
    config["model_type"] = "gpt2";
    require_config_error(
        config, Contains("model_type 'gpt2'") && Contains("opt, llama, mistral, qwen2, qwen3"));
  }
  SECTION("heads that do not divide") {
    Json config = opt_config();
    config["num_attention_heads"] = 5;
    require_config_error(config, Contains("num_attention_heads 5 does not divide hidden_size 64"));
    config = llama_config();
    config["num_key_value_heads"] = 3;
    require_config_error(config,
                         Contains("num_key_value_heads 3 does not divide num_attention_heads 32"));
    config = llama_config();
    config["head_dim"] = 7;
    require_config_error(config, Contains("head_dim 7"));
  }
  SECTION("unknown named model lists the known names") {
    REQUIRE_THROWS_AS(named_model_spec("opt-7b"), alisa::Error);
    REQUIRE_THROWS_WITH(named_model_spec("opt-7b"),
                        Contains("'opt-7b'") && Contains("opt-125m") && Contains("opt-175b") &&
                            Contains("llama-2-7b") && Contains("llama-3-8b"));
  }
  SECTION("missing config.json") {
    alisa::test::ScratchDir dir;
    REQUIRE_THROWS_AS(alisa::load_model_spec(dir.path()), alisa::Error);
    REQUIRE_THROWS_WITH(alisa::load_model_spec(dir.path()),
                        Contains((dir.path() / "config.json").string()));
  }
}
