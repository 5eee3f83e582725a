#include "runtime/model/model_spec.h"

#include <fstream>
#include <sstream>

#include "runtime/base/common.h"
#include "runtime/base/input_files.h"
#include "runtime/model/embedded_models.h"
#include "runtime/model/llama_families.h"

namespace alisa {
namespace {

using Json = ConfigReader::Json;

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
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = config.boolean("enable_bias", true);
  spec.learned_positions = true;
  spec.position_offset = 2;
  spec.word_embed_proj_dim =
      config.has("word_embed_proj_dim") ? config.positive("word_embed_proj_dim") : spec.hidden_size;
  spec.norm_before = config.boolean("do_layer_norm_before", true);
  spec.final_norm = spec.norm_before && !config.boolean("_remove_final_layer_norm", false);
  ALISA_CHECK(config.boolean("layer_norm_elementwise_affine", true), config.source(),
              ": layer_norm_elementwise_affine false is not supported");
  return spec;
}

// The model types alisa runs and the Hugging Face class each one's checkpoints are saved from.
struct FamilyEntry {
  const char* model_type;
  ModelFamily family;
  const char* architecture;
};
constexpr FamilyEntry kFamilies[] = {
    {"opt", ModelFamily::kOpt, "OPTForCausalLM"},
    {"llama", ModelFamily::kLlama, "LlamaForCausalLM"},
    {"mistral", ModelFamily::kMistral, "MistralForCausalLM"},
    {"qwen2", ModelFamily::kQwen2, "Qwen2ForCausalLM"},
    {"qwen3", ModelFamily::kQwen3, "Qwen3ForCausalLM"},
};

// Model types known not to run yet, and why (the key that says so).
struct RefusedType {
  const char* model_type;
  const char* reason;
};
constexpr RefusedType kRefusedTypes[] = {
    {"mixtral", "a sparse mixture of experts ('num_local_experts' MLPs per layer)"},
    {"qwen2_moe", "a sparse mixture of experts ('num_experts' MLPs per layer)"},
    {"qwen3_moe", "a sparse mixture of experts ('num_experts' MLPs per layer)"},
};

const FamilyEntry& family_of(const ConfigReader& config) {
  const std::string& source = config.source();
  ALISA_CHECK(config.has("model_type"), source, ": missing key 'model_type'");
  const std::string model_type = config.string("model_type", "");
  const FamilyEntry* entry = nullptr;
  for (const FamilyEntry& family : kFamilies) {
    if (model_type == family.model_type) entry = &family;
  }
  if (entry == nullptr) {
    for (const RefusedType& refused : kRefusedTypes) {
      ALISA_CHECK(model_type != refused.model_type, source, ": model_type '", model_type, "' is ",
                  refused.reason, ", which alisa does not run yet");
    }
    std::string known;
    for (const FamilyEntry& family : kFamilies) {
      known += str(known.empty() ? "" : ", ", family.model_type);
    }
    throw Error(
        str(source, ": unsupported model_type '", model_type, "' (alisa runs ", known, ")"));
  }
  // A checkpoint of another head (sequence classification, a vision model's text part) or a
  // model_type that does not match its class would load wrong weights or run the wrong program.
  for (const std::string& architecture : config.strings("architectures")) {
    ALISA_CHECK(architecture == entry->architecture, source, ": 'architectures' names '",
                architecture, "' but model_type '", model_type, "' runs as ", entry->architecture);
  }
  return *entry;
}

void check_eos(const ModelSpec& spec, const std::string& source) {
  for (int32_t id : spec.eos_token_ids) {
    ALISA_CHECK(id >= 0 && id < spec.vocab_size, source, ": eos_token_id ", id,
                " is outside the vocabulary of ", spec.vocab_size);
  }
}

std::string read_file(const std::filesystem::path& path) {
  return read_text_file(path, "model config");
}

}  // namespace

int64_t ModelSpec::n_parameters() const {
  const int64_t d = hidden_size;
  int64_t attention = d * q_dim() + 2 * d * kv_dim() + q_dim() * d;
  if (qkv_bias) attention += q_dim() + 2 * kv_dim();
  if (o_bias) attention += d;
  if (qk_norm) attention += 2 * head_dim;
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
  const Json json = ConfigReader::parse_object(json_text, source);
  const ConfigReader config(json, source);
  const FamilyEntry& entry = family_of(config);
  ModelSpec spec = entry.family == ModelFamily::kOpt ? parse_opt(config)
                                                     : parse_llama_family(config, entry.family);
  check_common(spec, source);
  spec.pad_token_id = config.token_id("pad_token_id", spec.vocab_size);
  spec.bos_token_id = config.token_id("bos_token_id", spec.vocab_size);
  spec.eos_token_ids = config.token_ids("eos_token_id");
  check_eos(spec, source);
  spec.torch_dtype = parse_torch_dtype(config);
  spec.name = source;
  return spec;
}

ModelSpec load_model_spec(const std::filesystem::path& folder) {
  const std::filesystem::path path = folder / "config.json";
  ModelSpec spec = model_spec_from_json(read_file(path), path.string());
  const std::filesystem::path generation = folder / "generation_config.json";
  if (std::filesystem::exists(generation)) {
    const Json json = ConfigReader::parse_object(read_file(generation), generation.string());
    const ConfigReader config(json, generation.string());
    if (config.has("eos_token_id")) {
      spec.eos_token_ids = config.token_ids("eos_token_id");
      check_eos(spec, generation.string());
    }
    if (spec.bos_token_id < 0) {
      spec.bos_token_id = config.token_id("bos_token_id", spec.vocab_size);
    }
    if (spec.pad_token_id < 0) {
      spec.pad_token_id = config.token_id("pad_token_id", spec.vocab_size);
    }
  }
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

void check_within_sliding_window(const ModelSpec& spec, int64_t positions) {
  ALISA_CHECK(spec.sliding_window == 0 || positions <= spec.sliding_window, spec.name,
              ": the run needs ", positions,
              " positions per sequence (prompt + new tokens) but the model's sliding_window is ",
              spec.sliding_window,
              "; alisa has no sliding-window mask, so it runs such models only within the window");
}

ModelFootprint model_footprint(const ModelSpec& spec) {
  return footprint_from_sizes({.n_layers = spec.n_layers,
                               .hidden_size = spec.hidden_size,
                               .q_dim = spec.q_dim(),
                               .kv_dim = spec.kv_dim(),
                               .n_kv_heads = spec.n_kv_heads,
                               .ffn_dim = spec.ffn_dim,
                               .gated_mlp = spec.gated_mlp,
                               .qkv_bias = spec.qkv_bias,
                               .o_bias = spec.o_bias,
                               .qk_norm = spec.qk_norm,
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
