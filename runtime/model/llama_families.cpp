#include "runtime/model/llama_families.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "runtime/base/common.h"

namespace alisa {
namespace {

using Json = ConfigReader::Json;

// The rotary settings: transformers 5's `rope_parameters`, or the older `rope_scaling` object
// (with `rope_theta` at the top level). Null when there is neither.
struct RopeSettings {
  const Json* object = nullptr;
  const char* key = nullptr;  // which of the two, for errors
};

RopeSettings rope_settings(const ConfigReader& config) {
  if (const Json* scaling = config.object("rope_scaling")) return {scaling, "rope_scaling"};
  if (const Json* parameters = config.object("rope_parameters")) {
    return {parameters, "rope_parameters"};
  }
  return {};
}

// Hugging Face's rope initialisation: default, linear and llama3 scaling; any other rope_type is
// refused, as its frequencies (or attention scaling) would differ.
std::vector<float> rope_inverse_frequencies(const ConfigReader& config, int64_t head_dim,
                                            float theta) {
  // Hugging Face keeps inv_freq in float32 whatever dtype the weights load in: compute in double
  // and round once to float32, never to the checkpoint's dtype.
  std::vector<float> inv_freq(head_dim / 2);
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const double exponent = static_cast<double>(2 * i) / static_cast<double>(head_dim);
    inv_freq[i] = static_cast<float>(1.0 / std::pow(static_cast<double>(theta), exponent));
  }
  const auto check_whole_heads = [&](const ConfigReader& where) {
    const double partial = where.number("partial_rotary_factor", 1.0);
    ALISA_CHECK(partial == 1.0, where.source(), ": partial_rotary_factor ", partial,
                " is not supported (alisa rotates whole heads)");
  };
  check_whole_heads(config);
  const RopeSettings rope = rope_settings(config);
  if (rope.object == nullptr) return inv_freq;
  const ConfigReader rope_config(*rope.object, config.source() + " '" + rope.key + "'");
  check_whole_heads(rope_config);
  std::string type = rope_config.string("rope_type", rope_config.string("type", "default"));
  if (type == "default") return inv_freq;
  const double factor = rope_config.number("factor", 1.0);
  ALISA_CHECK(factor > 0, config.source(), ": rope factor must be positive");
  if (type == "linear") {
    for (float& f : inv_freq) f = static_cast<float>(f / factor);
    return inv_freq;
  }
  if (type == "llama3") {
    const double low = rope_config.number("low_freq_factor", 1.0);
    const double high = rope_config.number("high_freq_factor", 4.0);
    const double old_context =
        static_cast<double>(rope_config.integer("original_max_position_embeddings", 8192));
    ALISA_CHECK(high > low, config.source(), ": '", rope.key,
                "' needs high_freq_factor > low_freq_factor");
    const double low_wavelen = old_context / low;
    const double high_wavelen = old_context / high;
    for (float& f : inv_freq) {
      const double wavelen = 2 * std::numbers::pi / f;
      if (wavelen > low_wavelen) {
        f = static_cast<float>(f / factor);
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_context / wavelen - low) / (high - low);
        f = static_cast<float>((1 - smooth) * f / factor + smooth * f);
      }
    }
    return inv_freq;
  }
  throw Error(str(config.source(), ": unsupported rope_type '", type, "' in '", rope.key,
                  "' (alisa implements default, linear, llama3)"));
}

float rope_theta(const ConfigReader& config) {
  double theta = config.number("rope_theta", 10000.0);
  if (const Json* parameters = config.object("rope_parameters")) {
    theta = ConfigReader(*parameters, config.source()).number("rope_theta", theta);
  }
  ALISA_CHECK(theta > 0 && std::isfinite(static_cast<float>(theta)), config.source(),
              ": rope_theta must be a positive finite number, got ", theta);
  return static_cast<float>(theta);
}

// Hugging Face's head_dim: written, or hidden_size / num_attention_heads (Qwen3's config class
// defaults to 128 instead).
int64_t head_dim_of(const ConfigReader& config, ModelFamily family, int64_t hidden,
                    int64_t n_heads) {
  if (config.has("head_dim")) return config.positive("head_dim");
  if (family == ModelFamily::kQwen3) return 128;
  ALISA_CHECK(hidden % n_heads == 0, config.source(), ": num_attention_heads ", n_heads,
              " does not divide hidden_size ", hidden, " (and there is no head_dim)");
  return hidden / n_heads;
}

// Qwen's layer_types: every entry full_attention or sliding_attention, one per layer.
std::vector<std::string> layer_types(const ConfigReader& config, int64_t n_layers) {
  const std::vector<std::string> types = config.strings("layer_types");
  if (types.empty()) return types;
  ALISA_CHECK(static_cast<int64_t>(types.size()) == n_layers, config.source(),
              ": 'layer_types' has ", types.size(), " entries for ", n_layers, " layers");
  for (const std::string& type : types) {
    ALISA_CHECK(type == "full_attention" || type == "sliding_attention", config.source(),
                ": 'layer_types' entry '", type,
                "' is not supported (alisa runs full_attention, sliding_attention)");
  }
  return types;
}

// The attention window as Hugging Face applies it (0: none). Mistral's sliding_window covers
// every layer (absent: its config class's 4096; null: none). Qwen's applies only with
// use_sliding_window, to the layers layer_types marks sliding_attention (or, without
// layer_types, those from max_window_layers on).
int64_t sliding_window_of(const ConfigReader& config, ModelFamily family, int64_t n_layers) {
  if (family == ModelFamily::kMistral) {
    if (!config.written("sliding_window")) return 4096;
    return config.has("sliding_window") ? config.positive("sliding_window") : 0;
  }
  if (family != ModelFamily::kQwen2 && family != ModelFamily::kQwen3) return 0;
  const std::vector<std::string> types = layer_types(config, n_layers);
  if (!config.boolean("use_sliding_window", false) || !config.has("sliding_window")) return 0;
  const int64_t window = config.positive("sliding_window");
  const bool any_sliding = types.empty()
                               ? n_layers > config.integer("max_window_layers", 28)
                               : std::count(types.begin(), types.end(), "sliding_attention") > 0;
  return any_sliding ? window : 0;
}

}  // namespace

Activation parse_activation(const std::string& name, const std::string& source) {
  if (name == "relu") return Activation::kRelu;
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast")
    return Activation::kGeluTanh;
  if (name == "silu" || name == "swish") return Activation::kSilu;
  throw Error(str(source, ": unsupported activation '", name,
                  "' (supported: relu, gelu, gelu_new, gelu_pytorch_tanh, silu)"));
}

ModelSpec parse_llama_family(const ConfigReader& config, ModelFamily family) {
  ALISA_ASSERT(family != ModelFamily::kOpt, "OPT is not of LLaMA's layout");
  ModelSpec spec;
  spec.family = family;
  spec.vocab_size = config.positive("vocab_size");
  spec.hidden_size = config.positive("hidden_size");
  spec.n_layers = config.positive("num_hidden_layers");
  spec.n_heads = config.positive("num_attention_heads");
  // LLaMA's config class defaults the KV heads to the query heads; the others default to fixed
  // numbers that need not fit, so there the key is required.
  spec.n_kv_heads = family == ModelFamily::kLlama
                        ? config.integer("num_key_value_heads", spec.n_heads)
                        : config.positive("num_key_value_heads");
  spec.head_dim = head_dim_of(config, family, spec.hidden_size, spec.n_heads);
  spec.ffn_dim = config.positive("intermediate_size");
  spec.max_positions = config.positive("max_position_embeddings");
  spec.norm = NormKind::kRmsNorm;
  spec.norm_eps = static_cast<float>(config.number("rms_norm_eps", 1e-6));
  // 0 divides by zero on an all-zero row; a negative epsilon can take the root of a negative.
  ALISA_CHECK(std::isfinite(spec.norm_eps) && spec.norm_eps > 0, config.source(),
              ": rms_norm_eps must be a positive number, got ", spec.norm_eps);
  spec.activation = parse_activation(config.string("hidden_act", "silu"), config.source());
  spec.gated_mlp = true;
  spec.tie_word_embeddings = config.boolean("tie_word_embeddings", false);
  spec.word_embed_proj_dim = spec.hidden_size;
  // Biases as each family's attention module builds them: LLaMA and Qwen3 from attention_bias
  // (all four projections), Qwen2 always on q, k and v and never on o, Mistral none.
  switch (family) {
    case ModelFamily::kLlama:
      spec.qkv_bias = spec.o_bias = config.boolean("attention_bias", false);
      spec.mlp_bias = config.boolean("mlp_bias", false);
      break;
    case ModelFamily::kQwen2:
      spec.qkv_bias = true;
      break;
    case ModelFamily::kQwen3:
      spec.qkv_bias = spec.o_bias = config.boolean("attention_bias", false);
      spec.qk_norm = true;
      break;
    case ModelFamily::kMistral:
    case ModelFamily::kOpt:
      break;
  }
  spec.sliding_window = sliding_window_of(config, family, spec.n_layers);
  spec.rope_theta = rope_theta(config);
  ALISA_CHECK(spec.head_dim > 0, config.source(), ": head_dim must be positive");
  spec.rope_inv_freq = rope_inverse_frequencies(config, spec.head_dim, spec.rope_theta);
  return spec;
}

}  // namespace alisa
