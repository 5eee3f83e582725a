#include "runtime/model/model_spec.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <sstream>

#include "runtime/base/common.h"
#include "runtime/model/embedded_models.h"

namespace alisa {
namespace {

using Json = nlohmann::json;

// Typed access to config keys with errors that name the file and key.
class ConfigReader {
 public:
  ConfigReader(const Json& json, std::string source) : json_(json), source_(std::move(source)) {}

  bool has(const char* key) const { return json_.contains(key) && !json_[key].is_null(); }

  int64_t integer(const char* key) const {
    ALISA_CHECK(has(key), source_, ": missing key '", key, "'");
    return integer_value(json_[key], key);
  }
  int64_t integer(const char* key, int64_t fallback) const {
    return has(key) ? integer_value(json_[key], key) : fallback;
  }
  int64_t positive(const char* key) const {
    const int64_t value = integer(key);
    ALISA_CHECK(value > 0, source_, ": '", key, "' must be positive, got ", value);
    return value;
  }
  double number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    ALISA_CHECK(json_[key].is_number(), source_, ": '", key, "' must be a number");
    return json_[key].get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    ALISA_CHECK(json_[key].is_boolean(), source_, ": '", key, "' must be true or false");
    return json_[key].get<bool>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    ALISA_CHECK(json_[key].is_string(), source_, ": '", key, "' must be a string");
    return json_[key].get<std::string>();
  }
  // A token id, or a list of them (eos_token_id may be either).
  std::vector<int32_t> token_ids(const char* key) const {
    std::vector<int32_t> ids;
    if (!has(key)) return ids;
    const Json& value = json_[key];
    if (value.is_array()) {
      for (const Json& item : value) ids.push_back(static_cast<int32_t>(integer_value(item, key)));
    } else {
      ids.push_back(static_cast<int32_t>(integer_value(value, key)));
    }
    return ids;
  }
  const Json* object(const char* key) const {
    if (!has(key)) return nullptr;
    ALISA_CHECK(json_[key].is_object(), source_, ": '", key, "' must be an object");
    return &json_[key];
  }
  const std::string& source() const { return source_; }

 private:
  int64_t integer_value(const Json& value, const char* key) const {
    ALISA_CHECK(value.is_number_integer(), source_, ": '", key, "' must be an integer");
    return value.get<int64_t>();
  }
  const Json& json_;
  std::string source_;
};

Activation parse_activation(const std::string& name, const std::string& source) {
  if (name == "relu") return Activation::kRelu;
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast")
    return Activation::kGeluTanh;
  if (name == "silu" || name == "swish") return Activation::kSilu;
  throw Error(str(source, ": unsupported activation '", name,
                  "' (supported: relu, gelu, gelu_new, gelu_pytorch_tanh, silu)"));
}

// config.json's torch_dtype (transformers 5 writes dtype); float32 when absent.
DType parse_torch_dtype(const ConfigReader& config) {
  const char* key = config.has("dtype") ? "dtype" : "torch_dtype";
  const std::string name = config.string(key, "float32");
  if (name == "float32") return DType::kF32;
  if (name == "float16") return DType::kF16;
  if (name == "bfloat16") return DType::kBF16;
  throw Error(str(config.source(), ": unsupported ", key, " '", name,
                  "' (supported: float32, float16, bfloat16)"));
}

void check_common(const ModelSpec& spec, const std::string& source) {
  ALISA_CHECK(spec.n_kv_heads > 0 && spec.n_heads % spec.n_kv_heads == 0, source,
              ": num_key_value_heads ", spec.n_kv_heads, " does not divide num_attention_heads ",
              spec.n_heads);
  ALISA_CHECK(spec.head_dim > 0 && spec.head_dim % 2 == 0, source, ": head_dim ", spec.head_dim,
              " must be positive and even");
}

ModelSpec parse_opt(const ConfigReader& config) {
  ModelSpec spec;
  spec.family = ModelFamily::kOpt;
  spec.vocab_size = config.positive("vocab_size");
  spec.hidden_size = config.positive("hidden_size");
  spec.n_layers = config.positive("num_hidden_layers");
  spec.n_heads = config.positive("num_attention_heads");
  ALISA_CHECK(spec.hidden_size % spec.n_heads == 0, config.source(), ": num_attention_heads ",
              spec.n_heads, " does not divide hidden_size ", spec.hidden_size);
  spec.n_kv_heads = spec.n_heads;
  spec.head_dim = spec.hidden_size / spec.n_heads;
  spec.ffn_dim = config.positive("ffn_dim");
  spec.max_positions = config.positive("max_position_embeddings");
  spec.norm = NormKind::kLayerNorm;
  spec.norm_eps = 1e-5f;  // torch.nn.LayerNorm's default, which OPT uses
  spec.activation = parse_activation(config.string("activation_function", "relu"), config.source());
  spec.tie_word_embeddings = config.boolean("tie_word_embeddings", true);
  spec.attention_bias = spec.mlp_bias = config.boolean("enable_bias", true);
  spec.learned_positions = true;
  spec.position_offset = 2;
  spec.word_embed_proj_dim = config.integer("word_embed_proj_dim", spec.hidden_size);
  ALISA_CHECK(spec.word_embed_proj_dim > 0, config.source(),
              ": word_embed_proj_dim must be positive");
  spec.norm_before = config.boolean("do_layer_norm_before", true);
  spec.final_norm = spec.norm_before && !config.boolean("_remove_final_layer_norm", false);
  ALISA_CHECK(config.boolean("layer_norm_elementwise_affine", true), config.source(),
              ": layer_norm_elementwise_affine false is not supported");
  return spec;
}

// Hugging Face's rope initialisation: default, linear and llama3 scaling.
std::vector<float> rope_inverse_frequencies(const ConfigReader& config, int64_t head_dim,
                                            float theta) {
  // Hugging Face keeps inv_freq in float32 whatever dtype the weights load in: compute in double
  // and round once to float32, never to the checkpoint's dtype.
  std::vector<float> inv_freq(head_dim / 2);
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const double exponent = static_cast<double>(2 * i) / static_cast<double>(head_dim);
    inv_freq[i] = static_cast<float>(1.0 / std::pow(static_cast<double>(theta), exponent));
  }
  const Json* scaling = config.object("rope_scaling");
  const Json* parameters = config.object("rope_parameters");
  const Json* rope = scaling != nullptr ? scaling : parameters;
  if (rope == nullptr) return inv_freq;
  const ConfigReader rope_config(*rope, config.source() + " rope parameters");
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
  throw Error(str(config.source(), ": unsupported rope type '", type,
                  "' (supported: default, linear, llama3)"));
}

ModelSpec parse_llama(const ConfigReader& config) {
  ModelSpec spec;
  spec.family = ModelFamily::kLlama;
  spec.vocab_size = config.positive("vocab_size");
  spec.hidden_size = config.positive("hidden_size");
  spec.n_layers = config.positive("num_hidden_layers");
  spec.n_heads = config.positive("num_attention_heads");
  spec.n_kv_heads = config.integer("num_key_value_heads", spec.n_heads);
  spec.head_dim = config.integer("head_dim", spec.hidden_size / spec.n_heads);
  spec.ffn_dim = config.positive("intermediate_size");
  spec.max_positions = config.positive("max_position_embeddings");
  spec.norm = NormKind::kRmsNorm;
  spec.norm_eps = static_cast<float>(config.number("rms_norm_eps", 1e-6));
  spec.activation = parse_activation(config.string("hidden_act", "silu"), config.source());
  spec.gated_mlp = true;
  spec.tie_word_embeddings = config.boolean("tie_word_embeddings", false);
  spec.attention_bias = config.boolean("attention_bias", false);
  spec.mlp_bias = config.boolean("mlp_bias", false);
  spec.word_embed_proj_dim = spec.hidden_size;
  double theta = config.number("rope_theta", 10000.0);
  if (const Json* parameters = config.object("rope_parameters")) {
    theta = ConfigReader(*parameters, config.source()).number("rope_theta", theta);
  }
  spec.rope_theta = static_cast<float>(theta);
  ALISA_CHECK(spec.head_dim > 0, config.source(), ": head_dim must be positive");
  spec.rope_inv_freq = rope_inverse_frequencies(config, spec.head_dim, spec.rope_theta);
  return spec;
}

}  // namespace

int64_t ModelSpec::n_parameters() const {
  const int64_t d = hidden_size;
  int64_t attention = d * q_dim() + 2 * d * kv_dim() + q_dim() * d;
  if (attention_bias) attention += q_dim() + 2 * kv_dim() + d;
  int64_t mlp = (gated_mlp ? 3 : 2) * d * ffn_dim;
  if (mlp_bias) mlp += (gated_mlp ? 2 : 1) * ffn_dim + d;
  const int64_t norms = (norm == NormKind::kLayerNorm ? 4 : 2) * d;
  int64_t total = n_layers * (attention + mlp + norms);
  total += vocab_size * embed_dim();
  if (!tie_word_embeddings) total += vocab_size * embed_dim();
  if (learned_positions) total += (max_positions + position_offset) * d;
  if (embed_dim() != d) total += 2 * embed_dim() * d;
  if (final_norm) total += (norm == NormKind::kLayerNorm ? 2 : 1) * d;
  return total;
}

ModelSpec model_spec_from_json(const std::string& json_text, const std::string& source) {
  Json json;
  try {
    json = Json::parse(json_text);
  } catch (const Json::parse_error& e) {
    throw Error(str(source, ": not valid JSON: ", e.what()));
  }
  ALISA_CHECK(json.is_object(), source, ": expected a JSON object");
  const ConfigReader config(json, source);
  ALISA_CHECK(config.has("model_type"), source, ": missing key 'model_type'");
  const std::string model_type = config.string("model_type", "");
  ModelSpec spec;
  if (model_type == "opt") {
    spec = parse_opt(config);
  } else if (model_type == "llama") {
    spec = parse_llama(config);
  } else {
    throw Error(str(source, ": unsupported model_type '", model_type, "' (alisa runs opt, llama)"));
  }
  check_common(spec, source);
  spec.pad_token_id = static_cast<int32_t>(config.integer("pad_token_id", -1));
  spec.bos_token_id = static_cast<int32_t>(config.integer("bos_token_id", -1));
  spec.eos_token_ids = config.token_ids("eos_token_id");
  for (int32_t id : spec.eos_token_ids) {
    ALISA_CHECK(id >= 0 && id < spec.vocab_size, source, ": eos_token_id ", id,
                " is outside the vocabulary of ", spec.vocab_size);
  }
  spec.torch_dtype = parse_torch_dtype(config);
  spec.name = source;
  return spec;
}

ModelSpec load_model_spec(const std::filesystem::path& folder) {
  const std::filesystem::path path = folder / "config.json";
  std::ifstream in(path);
  ALISA_CHECK(in.good(), "cannot read ", path.string(), ": no such file or not readable");
  std::ostringstream text;
  text << in.rdbuf();
  ModelSpec spec = model_spec_from_json(text.str(), path.string());
  spec.name = folder.string();
  return spec;
}

ModelSpec named_model_spec(const std::string& name) {
  for (const EmbeddedModel& model : embedded_models()) {
    if (model.name == name) {
      ModelSpec spec =
          model_spec_from_json(std::string(model.config_json), "configs/models/" + name + ".json");
      spec.name = "dummy:" + name;
      return spec;
    }
  }
  std::string known;
  for (const std::string& n : named_model_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(str("unknown model architecture '", name, "' (known: ", known, ")"));
}

std::vector<std::string> named_model_names() {
  std::vector<std::string> names;
  for (const EmbeddedModel& model : embedded_models()) names.emplace_back(model.name);
  return names;
}

ModelFootprint model_footprint(const ModelSpec& spec) {
  return footprint_from_sizes({.n_layers = spec.n_layers,
                               .hidden_size = spec.hidden_size,
                               .q_dim = spec.q_dim(),
                               .kv_dim = spec.kv_dim(),
                               .n_kv_heads = spec.n_kv_heads,
                               .ffn_dim = spec.ffn_dim,
                               .gated_mlp = spec.gated_mlp,
                               .attention_bias = spec.attention_bias,
                               .mlp_bias = spec.mlp_bias,
                               .layer_norm = spec.norm == NormKind::kLayerNorm,
                               .final_norm = spec.final_norm,
                               .vocab_size = spec.vocab_size,
                               .embed_dim = spec.embed_dim(),
                               .tie_word_embeddings = spec.tie_word_embeddings,
                               .learned_positions = spec.learned_positions,
                               .position_offset = spec.position_offset,
                               .max_positions = spec.max_positions});
}

}  // namespace alisa
