#include "policy/footprint.h"

#include "runtime/base/common.h"

namespace alisa {

ModelFootprint footprint_from_sizes(const ModelSizes& s) {
  ALISA_CHECK(s.n_layers > 0 && s.hidden_size > 0 && s.q_dim > 0 && s.kv_dim > 0 &&
                  s.n_kv_heads > 0 && s.ffn_dim > 0 && s.vocab_size > 0 && s.embed_dim > 0 &&
                  s.max_positions > 0 && s.position_offset >= 0,
              "model sizes must be positive (n_layers ", s.n_layers, ", hidden_size ",
              s.hidden_size, ", q_dim ", s.q_dim, ", kv_dim ", s.kv_dim, ", n_kv_heads ",
              s.n_kv_heads, ", ffn_dim ", s.ffn_dim, ", vocab_size ", s.vocab_size, ", embed_dim ",
              s.embed_dim, ", max_positions ", s.max_positions, ")");
  const int64_t d = s.hidden_size;
  const int64_t norm_params = s.layer_norm ? 2 * d : d;  // one norm: weight (and bias)
  ModelFootprint f;
  f.n_layers = s.n_layers;
  f.hidden_size = d;
  f.ffn_dim = s.ffn_dim;
  f.gated_mlp = s.gated_mlp;
  f.vocab_size = s.vocab_size;
  f.max_positions = s.max_positions;
  f.q_dim = s.q_dim;
  f.kv_dim = s.kv_dim;
  f.embed_dim = s.embed_dim;
  f.n_kv_heads = s.n_kv_heads;
  f.qk_norm = s.qk_norm;
  // Per layer: q [q_dim, d], k and v [kv_dim, d], o [d, q_dim]; MLP 2 or 3 matrices of d * ffn.
  f.layer_matrix_params =
      2 * d * s.q_dim + 2 * d * s.kv_dim + (s.gated_mlp ? 3 : 2) * d * s.ffn_dim;
  f.layer_vector_params = 2 * norm_params;  // the attention and MLP norms
  if (s.qkv_bias) f.layer_vector_params += s.q_dim + 2 * s.kv_dim;
  if (s.o_bias) f.layer_vector_params += d;
  if (s.qk_norm) f.layer_vector_params += 2 * (s.kv_dim / s.n_kv_heads);  // q_norm, k_norm
  if (s.mlp_bias) f.layer_vector_params += (s.gated_mlp ? 2 : 1) * s.ffn_dim + d;
  // Global: token embeddings [vocab, embed_dim], an untied head of the same shape, OPT's
  // position table, project_in/out, the final norm.
  f.global_matrix_params = s.vocab_size * s.embed_dim;
  if (!s.tie_word_embeddings) f.global_matrix_params += s.vocab_size * s.embed_dim;
  if (s.learned_positions) f.global_matrix_params += (s.max_positions + s.position_offset) * d;
  if (s.embed_dim != d) f.global_matrix_params += 2 * s.embed_dim * d;
  f.global_vector_params = s.final_norm ? norm_params : 0;
  f.layer_weight_bytes = 2 * static_cast<uint64_t>(f.layer_matrix_params + f.layer_vector_params);
  f.global_weight_bytes =
      2 * static_cast<uint64_t>(f.global_matrix_params + f.global_vector_params);
  f.kv_bytes_per_token_per_layer = 2 * 2 * static_cast<uint64_t>(s.kv_dim);
  f.rotary_frequencies = s.learned_positions ? 0 : s.kv_dim / s.n_kv_heads / 2;
  return f;
}

}  // namespace alisa
