// ModelSpec: the architecture of a model, read from a Hugging Face config.json. Immutable once
// built; everything downstream (weights, layer programs, KV cache, cost model) reads it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "policy/footprint.h"
#include "runtime/base/dtype.h"
#include "runtime/base/kernel_params.h"

namespace alisa {

// The Hugging Face model_type a spec was read from. Every family but OPT shares LLaMA's layout
// and decoder; the flags below say where they differ.
enum class ModelFamily : uint8_t { kOpt, kLlama, kMistral, kQwen2, kQwen3 };
enum class NormKind : uint8_t { kLayerNorm, kRmsNorm };

struct ModelSpec {
  std::string name;  // the folder, or "dummy:opt-125m"
  ModelFamily family = ModelFamily::kOpt;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t ffn_dim = 0;
  int64_t max_positions = 0;
  NormKind norm = NormKind::kLayerNorm;
  float norm_eps = 1e-5f;
  Activation activation = Activation::kRelu;
  bool gated_mlp = false;            // LLaMA's SwiGLU: down(act(gate(x)) * up(x))
  bool tie_word_embeddings = false;  // lm_head is the token embedding
  bool qkv_bias = false;             // q/k/v projections have biases
  bool o_bias = false;               // the output projection has a bias (not Qwen2's)
  bool mlp_bias = false;             // MLP projections have biases
  bool qk_norm = false;  // Qwen3: RMSNorm over each head of q and k (weights [head_dim]) before
                         // rotary, with norm_eps
  // > 0: a token may attend only the last sliding_window positions (Mistral, Qwen with
  // use_sliding_window). alisa has no window mask, so runs longer than this are refused.
  int64_t sliding_window = 0;
  // OPT
  bool learned_positions = false;  // OPT's learned position table, offset 2
  int64_t position_offset = 0;
  int64_t word_embed_proj_dim = 0;  // != hidden_size: project_in / project_out exist
  bool norm_before = true;          // OPT's do_layer_norm_before (false: post-LN, OPT-350m)
  bool final_norm = true;           // a final norm before the head
  // Rotary embeddings (every family but OPT)
  float rope_theta = 10000.0f;
  std::vector<float> rope_inv_freq;  // [head_dim / 2], rope scaling already applied
  // Tokens
  int32_t pad_token_id = -1;
  int32_t bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;
  // The dtype the model was trained and saved in (config.json's torch_dtype, or dtype in
  // transformers 5); float32 when absent, as Hugging Face assumes. bfloat16 picks the GPU dtype.
  DType torch_dtype = DType::kF32;

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
  int64_t embed_dim() const { return word_embed_proj_dim; }
  // Parameter count of the weights the model stores.
  int64_t n_parameters() const;
};

// Parses a config.json text; `source` names it in errors.
ModelSpec model_spec_from_json(const std::string& json_text, const std::string& source);
// Reads <folder>/config.json, and <folder>/generation_config.json where there is one: its
// eos_token_id (an id or a list) replaces config.json's, as Hugging Face's generate reads only the
// generation config; its bos_token_id and pad_token_id fill in where config.json has none.
ModelSpec load_model_spec(const std::filesystem::path& folder);
// A named architecture from configs/models (e.g. "opt-6.7b"), compiled into the binary.
ModelSpec named_model_spec(const std::string& name);
std::vector<std::string> named_model_names();

// Throws alisa::Error naming sliding_window when a run needs more positions per sequence (prompt
// plus new tokens) than the model's attention window: alisa attends every position, which is
// exact only within the window.
void check_within_sliding_window(const ModelSpec& spec, int64_t positions);

// The sizes the memory plan (policy/) needs, from the spec.
ModelFootprint model_footprint(const ModelSpec& spec);

}  // namespace alisa
