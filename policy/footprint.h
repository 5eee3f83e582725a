// ModelFootprint: the plain numbers the memory model needs about a model, built from the sizes in
// a ModelSpec (runtime builds it; policy/ never sees a ModelSpec).
#pragma once

#include <cstdint>

namespace alisa {

// The sizes of a model, named as in ModelSpec; fill with designated initializers.
struct ModelSizes {
  int64_t n_layers = 0;
  int64_t hidden_size = 0;  // d
  int64_t q_dim = 0;        // n_heads * head_dim
  int64_t kv_dim = 0;       // n_kv_heads * head_dim
  int64_t n_kv_heads = 0;
  int64_t ffn_dim = 0;
  bool gated_mlp = false;  // LLaMA's gate, up, down
  bool qkv_bias = false;   // q/k/v biases
  bool o_bias = false;     // the output projection's bias
  bool qk_norm = false;    // per-head RMSNorm weights of q and k ([head_dim] each)
  bool mlp_bias = false;   // MLP biases
  bool layer_norm = true;  // LayerNorm (weight and bias); false: RMSNorm (weight only)
  bool final_norm = true;
  int64_t vocab_size = 0;
  int64_t embed_dim = 0;  // token embedding width; != hidden_size: project_in/out exist
  bool tie_word_embeddings = false;
  bool learned_positions = false;  // OPT: a [max_positions + position_offset, d] table
  int64_t position_offset = 0;
  int64_t max_positions = 0;
};

struct ModelFootprint {
  int64_t n_layers = 0;
  int64_t hidden_size = 0;
  int64_t ffn_dim = 0;
  bool gated_mlp = false;
  int64_t vocab_size = 0;
  int64_t max_positions = 0;
  int64_t q_dim = 0;  // n_heads * head_dim
  int64_t kv_dim = 0;
  int64_t n_kv_heads = 0;
  int64_t embed_dim = 0;
  bool qk_norm = false;  // two more norm kernels per layer
  // Parameters of one decoder layer and of the global weights (embeddings, positions,
  // projections, head, final norm), split into 2-D matrices (compressible) and 1-D vectors
  // (biases, norm weights: never compressed, as in FlexGen).
  int64_t layer_matrix_params = 0;
  int64_t layer_vector_params = 0;
  int64_t global_matrix_params = 0;
  int64_t global_vector_params = 0;
  // float16 bytes.
  uint64_t layer_weight_bytes = 0;            // 2 * (layer_matrix_params + layer_vector_params)
  uint64_t global_weight_bytes = 0;           // 2 * (global_matrix_params + global_vector_params)
  uint64_t kv_bytes_per_token_per_layer = 0;  // K and V: 2 * kv_dim * 2
  int64_t rotary_frequencies = 0;             // rotary models: head_dim / 2 (f32 values)

  int64_t n_parameters() const {
    return n_layers * (layer_matrix_params + layer_vector_params) + global_matrix_params +
           global_vector_params;
  }
};

// Throws alisa::Error when a size is not positive (or negative where it may be zero).
ModelFootprint footprint_from_sizes(const ModelSizes& sizes);

}  // namespace alisa
