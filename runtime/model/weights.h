// The weights of a model: their layout (names and shapes, derived from the ModelSpec), where
// they come from (a checkpoint or seeded dummy values) and their materialised tensors on a device.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/model/model_spec.h"

namespace alisa {

// One decoder layer. Absent weights (biases a model does not have) are empty tensors.
struct LayerWeights {
  Tensor attn_norm_weight, attn_norm_bias;  // [hidden]
  Tensor q_weight, q_bias;                  // [q_dim, hidden], [q_dim]
  Tensor k_weight, k_bias;                  // [kv_dim, hidden], [kv_dim]
  Tensor v_weight, v_bias;                  // [kv_dim, hidden], [kv_dim]
  Tensor o_weight, o_bias;                  // [hidden, q_dim], [hidden]
  Tensor q_norm_weight, k_norm_weight;      // [head_dim] (Qwen3's per-head q and k norms)
  Tensor mlp_norm_weight, mlp_norm_bias;    // [hidden]
  Tensor gate_weight, gate_bias;            // [ffn, hidden], [ffn] (gated MLPs only)
  Tensor up_weight, up_bias;                // [ffn, hidden], [ffn] (OPT's fc1)
  Tensor down_weight, down_bias;            // [hidden, ffn], [hidden] (OPT's fc2)
};

struct GlobalWeights {
  Tensor token_embedding;                     // [vocab, embed_dim]
  Tensor position_embedding;                  // [max_positions + offset, hidden] (learned)
  Tensor project_in;                          // [hidden, embed_dim] (when embed_dim != hidden)
  Tensor project_out;                         // [embed_dim, hidden]
  Tensor final_norm_weight, final_norm_bias;  // [hidden]
  Tensor lm_head;  // [vocab, embed_dim]; the token embedding itself when tied
};

// Where one weight lives in the model structs and in a Hugging Face checkpoint.
struct WeightSlot {
  std::string name;  // Hugging Face tensor name, e.g. "model.layers.3.mlp.up_proj.weight"
  std::vector<int64_t> shape;
  int64_t layer = -1;                           // -1: a global weight
  Tensor LayerWeights::*layer_field = nullptr;  // set when layer >= 0
  Tensor GlobalWeights::*global_field = nullptr;
  bool is_norm_weight = false;  // dummy values near 1, not near 0
};

// Every stored weight of the model, in checkpoint order: globals first, then layer by layer.
std::vector<WeightSlot> weight_layout(const ModelSpec& spec);

// Where a tensor's bytes lie in a file.
struct FileRegion {
  std::filesystem::path file;
  uint64_t offset = 0;
  uint64_t n_bytes = 0;
};

// A provider of weight values, converted to float32.
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // The file bytes of a slot when they are stored exactly in `dtype` (so the disk tier can read
  // them where they lie); nullopt otherwise.
  virtual std::optional<FileRegion> stored_region(const WeightSlot&, DType) const {
    return std::nullopt;
  }
  // Checks that every slot is present with the right shape; throws alisa::Error naming the
  // first that is not.
  virtual void validate(const std::vector<WeightSlot>& layout) const = 0;
  virtual void read_f32(const WeightSlot& slot, float* dst) const = 0;  // [numel(slot.shape)]
  virtual std::string description() const = 0;
};

// Weights from a Hugging Face checkpoint folder (single or sharded safetensors).
std::unique_ptr<WeightSource> open_checkpoint_weights(const std::filesystem::path& folder);
// Seeded random weights: every tensor gets values of a realistic scale from a counter-based
// generator keyed by (seed, tensor name), so any subset can be produced independently.
std::unique_ptr<WeightSource> make_dummy_weights(uint64_t seed);

}  // namespace alisa
