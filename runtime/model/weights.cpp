#include "runtime/model/weights.h"

#include <tbb/parallel_for.h>
#include <atomic>
#include <charconv>
#include <cmath>

#include "kernels_cpu/convert_cpu.h"
#include "runtime/model/safetensors.h"
#include "runtime/tiers/copy_engine.h"

namespace alisa {
namespace {

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// FNV-1a: a name hash that is the same on every compiler and machine.
uint64_t name_hash(const std::string& name) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : name) hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

void add_global(std::vector<WeightSlot>& slots, std::string name, std::vector<int64_t> shape,
                Tensor GlobalWeights::*field, bool is_norm_weight = false) {
  WeightSlot slot;
  slot.name = std::move(name);
  slot.shape = std::move(shape);
  slot.global_field = field;
  slot.is_norm_weight = is_norm_weight;
  slots.push_back(std::move(slot));
}

void add_layer(std::vector<WeightSlot>& slots, int64_t layer, const std::string& prefix,
               const std::string& name, std::vector<int64_t> shape, Tensor LayerWeights::*field,
               bool is_norm_weight = false) {
  WeightSlot slot;
  slot.name = prefix + name;
  slot.shape = std::move(shape);
  slot.layer = layer;
  slot.layer_field = field;
  slot.is_norm_weight = is_norm_weight;
  slots.push_back(std::move(slot));
}

void opt_layout(const ModelSpec& s, std::vector<WeightSlot>& slots) {
  const int64_t d = s.hidden_size;
  const std::string top = "model.decoder.";
  add_global(slots, top + "embed_tokens.weight", {s.vocab_size, s.embed_dim()},
             &GlobalWeights::token_embedding);
  add_global(slots, top + "embed_positions.weight", {s.max_positions + s.position_offset, d},
             &GlobalWeights::position_embedding);
  if (s.embed_dim() != d) {
    add_global(slots, top + "project_in.weight", {d, s.embed_dim()}, &GlobalWeights::project_in);
    add_global(slots, top + "project_out.weight", {s.embed_dim(), d}, &GlobalWeights::project_out);
  }
  if (s.final_norm) {
    add_global(slots, top + "final_layer_norm.weight", {d}, &GlobalWeights::final_norm_weight,
               true);
    add_global(slots, top + "final_layer_norm.bias", {d}, &GlobalWeights::final_norm_bias);
  }
  if (!s.tie_word_embeddings) {
    add_global(slots, "lm_head.weight", {s.vocab_size, s.embed_dim()}, &GlobalWeights::lm_head);
  }
  for (int64_t j = 0; j < s.n_layers; ++j) {
    const std::string p = top + "layers." + std::to_string(j) + ".";
    using L = LayerWeights;
    add_layer(slots, j, p, "self_attn_layer_norm.weight", {d}, &L::attn_norm_weight, true);
    add_layer(slots, j, p, "self_attn_layer_norm.bias", {d}, &L::attn_norm_bias);
    const std::tuple<const char*, bool, Tensor L::*, Tensor L::*> projections[] = {
        {"q_proj", s.qkv_bias, &L::q_weight, &L::q_bias},
        {"k_proj", s.qkv_bias, &L::k_weight, &L::k_bias},
        {"v_proj", s.qkv_bias, &L::v_weight, &L::v_bias},
        {"out_proj", s.o_bias, &L::o_weight, &L::o_bias}};
    for (const auto& [name, has_bias, weight, bias] : projections) {
      add_layer(slots, j, p, std::string("self_attn.") + name + ".weight", {d, d}, weight);
      if (has_bias) add_layer(slots, j, p, std::string("self_attn.") + name + ".bias", {d}, bias);
    }
    add_layer(slots, j, p, "final_layer_norm.weight", {d}, &L::mlp_norm_weight, true);
    add_layer(slots, j, p, "final_layer_norm.bias", {d}, &L::mlp_norm_bias);
    add_layer(slots, j, p, "fc1.weight", {s.ffn_dim, d}, &L::up_weight);
    if (s.mlp_bias) add_layer(slots, j, p, "fc1.bias", {s.ffn_dim}, &L::up_bias);
    add_layer(slots, j, p, "fc2.weight", {d, s.ffn_dim}, &L::down_weight);
    if (s.mlp_bias) add_layer(slots, j, p, "fc2.bias", {d}, &L::down_bias);
  }
}

void llama_layout(const ModelSpec& s, std::vector<WeightSlot>& slots) {
  const int64_t d = s.hidden_size;
  add_global(slots, "model.embed_tokens.weight", {s.vocab_size, d},
             &GlobalWeights::token_embedding);
  add_global(slots, "model.norm.weight", {d}, &GlobalWeights::final_norm_weight, true);
  if (!s.tie_word_embeddings) {
    add_global(slots, "lm_head.weight", {s.vocab_size, d}, &GlobalWeights::lm_head);
  }
  for (int64_t j = 0; j < s.n_layers; ++j) {
    const std::string p = "model.layers." + std::to_string(j) + ".";
    using L = LayerWeights;
    add_layer(slots, j, p, "input_layernorm.weight", {d}, &L::attn_norm_weight, true);
    const std::tuple<const char*, int64_t, int64_t, bool, Tensor L::*, Tensor L::*> projections[] =
        {{"self_attn.q_proj", s.q_dim(), d, s.qkv_bias, &L::q_weight, &L::q_bias},
         {"self_attn.k_proj", s.kv_dim(), d, s.qkv_bias, &L::k_weight, &L::k_bias},
         {"self_attn.v_proj", s.kv_dim(), d, s.qkv_bias, &L::v_weight, &L::v_bias},
         {"self_attn.o_proj", d, s.q_dim(), s.o_bias, &L::o_weight, &L::o_bias}};
    for (const auto& [name, rows, cols, has_bias, weight, bias] : projections) {
      add_layer(slots, j, p, std::string(name) + ".weight", {rows, cols}, weight);
      if (has_bias) add_layer(slots, j, p, std::string(name) + ".bias", {rows}, bias);
    }
    if (s.qk_norm) {
      add_layer(slots, j, p, "self_attn.q_norm.weight", {s.head_dim}, &L::q_norm_weight, true);
      add_layer(slots, j, p, "self_attn.k_norm.weight", {s.head_dim}, &L::k_norm_weight, true);
    }
    add_layer(slots, j, p, "post_attention_layernorm.weight", {d}, &L::mlp_norm_weight, true);
    const std::tuple<const char*, int64_t, int64_t, Tensor L::*, Tensor L::*> mlp[] = {
        {"mlp.gate_proj", s.ffn_dim, d, &L::gate_weight, &L::gate_bias},
        {"mlp.up_proj", s.ffn_dim, d, &L::up_weight, &L::up_bias},
        {"mlp.down_proj", d, s.ffn_dim, &L::down_weight, &L::down_bias}};
    for (const auto& [name, rows, cols, weight, bias] : mlp) {
      add_layer(slots, j, p, std::string(name) + ".weight", {rows, cols}, weight);
      if (s.mlp_bias) add_layer(slots, j, p, std::string(name) + ".bias", {rows}, bias);
    }
  }
}

// The layer a checkpoint tensor's name puts it in ("model.layers.12.mlp..." -> 12), or -1.
int64_t layer_of_name(const std::string& name) {
  const size_t at = name.find("layers.");
  if (at == std::string::npos) return -1;
  const char* begin = name.data() + at + 7;
  const char* end = name.data() + name.size();
  int64_t layer = -1;
  const auto [next, error] = std::from_chars(begin, end, layer);
  return error == std::errc() && next != end && *next == '.' ? layer : -1;
}

// NaN or infinity in a weight makes every logit NaN (and greedy decoding then emits token 0 with
// exit status 0): refused as it is read, in parallel chunks while the values are in cache.
void check_finite(const float* values, int64_t n, const std::string& tensor,
                  const std::string& source) {
  constexpr int64_t kChunk = int64_t{1} << 16;
  std::atomic<int64_t> first_bad{n};
  tbb::parallel_for(int64_t{0}, (n + kChunk - 1) / kChunk, [&](int64_t chunk) {
    const int64_t end = std::min(n, (chunk + 1) * kChunk);
    for (int64_t i = chunk * kChunk; i < end; ++i) {
      if (!std::isfinite(values[i])) {
        int64_t seen = first_bad.load();
        while (i < seen && !first_bad.compare_exchange_weak(seen, i)) {
        }
        return;
      }
    }
  });
  const int64_t bad = first_bad.load();
  ALISA_CHECK(bad == n, source, ": tensor '", tensor, "' holds ", values[bad], " at element ", bad,
              "; weights must be finite (a damaged or badly converted checkpoint)");
}

class CheckpointWeights final : public WeightSource {
 public:
  explicit CheckpointWeights(const std::filesystem::path& folder)
      : folder_(folder), checkpoint_(SafetensorsCheckpoint::open(folder)) {}

  void validate(const std::vector<WeightSlot>& layout) const override {
    int64_t n_layers = 0;
    for (const WeightSlot& slot : layout) n_layers = std::max(n_layers, slot.layer + 1);
    // A config.json with fewer layers than its checkpoint would run a truncated model.
    for (const std::string& name : checkpoint_.names()) {
      const int64_t layer = layer_of_name(name);
      ALISA_CHECK(layer < n_layers, "checkpoint ", folder_.string(), ": tensor '", name,
                  "' is in layer ", layer, " but config.json's num_hidden_layers is ", n_layers,
                  " (the config does not match the checkpoint)");
    }
    for (const WeightSlot& slot : layout) {
      const SafetensorsEntry& entry = entry_for(slot);
      ALISA_CHECK(entry.shape == slot.shape, "checkpoint ", folder_.string(), ": tensor '",
                  entry.name, "' has shape ", shape_text(entry.shape), " but config.json implies ",
                  shape_text(slot.shape));
      ALISA_CHECK(
          entry.dtype == DType::kF16 || entry.dtype == DType::kBF16 || entry.dtype == DType::kF32,
          "checkpoint ", folder_.string(), ": tensor '", entry.name, "' has dtype ",
          dtype_name(entry.dtype), " (weights must be f16, bf16 or f32)");
    }
  }

  void read_f32(const WeightSlot& slot, float* dst) const override {
    const SafetensorsEntry& entry = entry_for(slot);
    checkpoint_.read_f32(entry, dst);
    check_finite(dst, entry.n_elements(), entry.name, description());
  }

  std::string description() const override { return "checkpoint " + folder_.string(); }

  std::optional<FileRegion> stored_region(const WeightSlot& slot, DType dtype) const override {
    const SafetensorsEntry& entry = entry_for(slot);
    if (entry.dtype != dtype) return std::nullopt;
    return FileRegion{.file = entry.file, .offset = entry.offset_bytes, .n_bytes = entry.n_bytes};
  }

 private:
  // Hugging Face names with the "model." prefix; older exports omit it.
  const SafetensorsEntry& entry_for(const WeightSlot& slot) const {
    if (const SafetensorsEntry* entry = checkpoint_.find(slot.name)) return *entry;
    if (slot.name.rfind("model.", 0) == 0) {
      if (const SafetensorsEntry* entry = checkpoint_.find(slot.name.substr(6))) return *entry;
    }
    throw Error(str("checkpoint ", folder_.string(), ": missing tensor '", slot.name, "'"));
  }

  std::filesystem::path folder_;
  SafetensorsCheckpoint checkpoint_;
};

class DummyWeights final : public WeightSource {
 public:
  explicit DummyWeights(uint64_t seed) : seed_(seed) {}

  void validate(const std::vector<WeightSlot>&) const override {}

  // Matrices and embeddings: uniform with standard deviation 0.02 (HF's init_std). Norm
  // weights: 1 +- 0.1; biases: +- 0.02. Keyed by the tensor name, so values do not depend on
  // the order in which tensors are produced.
  void read_f32(const WeightSlot& slot, float* dst) const override {
    const uint64_t key = seed_ * 0x9e3779b97f4a7c15ull ^ name_hash(slot.name);
    const bool is_bias = slot.shape.size() == 1 && !slot.is_norm_weight;
    const float center = slot.is_norm_weight ? 1.0f : 0.0f;
    const float half_width =
        slot.is_norm_weight ? 0.1f : (is_bias ? 0.02f : 0.02f * std::sqrt(3.0f));
    const int64_t n = product(slot.shape);
    tbb::parallel_for(int64_t{0}, n, int64_t{1 << 16}, [&](int64_t begin) {
      const int64_t end = std::min(n, begin + (int64_t{1} << 16));
      for (int64_t i = begin; i < end; ++i) {
        dst[i] =
            center + half_width * (2.0f * counter_uniform(key, static_cast<uint64_t>(i)) - 1.0f);
      }
    });
  }

  std::string description() const override {
    return "dummy weights (seed " + std::to_string(seed_) + ")";
  }

 private:
  uint64_t seed_;
};

}  // namespace

std::vector<WeightSlot> weight_layout(const ModelSpec& spec) {
  std::vector<WeightSlot> slots;
  if (spec.family == ModelFamily::kOpt) {
    opt_layout(spec, slots);
  } else {
    llama_layout(spec, slots);
  }
  return slots;
}

std::unique_ptr<WeightSource> open_checkpoint_weights(const std::filesystem::path& folder) {
  return std::make_unique<CheckpointWeights>(folder);
}

std::unique_ptr<WeightSource> make_dummy_weights(uint64_t seed) {
  return std::make_unique<DummyWeights>(seed);
}

}  // namespace alisa
