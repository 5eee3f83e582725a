#include "runtime/schedule/batch_runner.h"

#include "runtime/core/owned_buffers.h"
#include "runtime/schedule/sampling.h"
#include "runtime/tiers/copy_engine.h"

namespace alisa {

BatchRunner::BatchRunner(const ModelSpec& spec, const WeightStore& weights, Ops& ops,
                         Device& device, const BatchShape& shape)
    : spec_(spec), weights_(weights), ops_(ops), device_(device), shape_(shape), program_(spec) {
  const int64_t b = shape.batch;
  const int64_t max_tokens = b * shape.max_step_tokens;
  const DType act = shape.activation_dtype;
  cache_.resize(static_cast<size_t>(spec.n_layers));
  for (KvLayerView& layer : cache_) {
    layer.k = owned_tensor(buffers_, device, act,
                           {b, shape.capacity, spec.n_kv_heads, spec.head_dim}, "KV cache");
    layer.v = owned_tensor(buffers_, device, act,
                           {b, shape.capacity, spec.n_kv_heads, spec.head_dim}, "KV cache");
  }
  scratch_ = program_.allocate_scratch(device, act, max_tokens, buffers_);
  key_mask_ = owned_tensor(buffers_, device, DType::kU8, {b, shape.capacity}, "key mask");
  token_ids_ = owned_tensor(buffers_, device, DType::kI32, {max_tokens}, "token ids");
  position_ids_ = owned_tensor(buffers_, device, DType::kI32, {max_tokens}, "position ids");
  hidden_ = owned_tensor(buffers_, device, act, {max_tokens, spec.hidden_size}, "hidden states");
  head_rows_ = owned_tensor(buffers_, device, act, {b, spec.hidden_size}, "head rows");
  const int64_t logit_rows = shape.all_logits ? max_tokens : b;
  logits_ = owned_tensor(buffers_, device, DType::kF32, {logit_rows, spec.vocab_size}, "logits");
  if (act != DType::kF32)
    logits_staging_ = owned_tensor(buffers_, device, act, {logit_rows, spec.vocab_size}, "logits");
  rng_keys_ = owned_tensor(buffers_, device, DType::kI64, {b}, "sampling keys");
  sampled_ = owned_tensor(buffers_, device, DType::kI32, {b}, "sampled tokens");
  mask_host_.assign(static_cast<size_t>(b * shape.capacity), 0);
  n_real_tokens_.assign(static_cast<size_t>(b), 0);
}

void BatchRunner::step(std::span<const int32_t> token_ids, std::span<const uint8_t> new_mask,
                       int64_t n_new, LogitRows rows) {
  const int64_t b = shape_.batch;
  const int64_t n = b * n_new;
  ALISA_ASSERT(n_new >= 1 && n_new <= shape_.max_step_tokens, "step of ", n_new, " tokens");
  ALISA_ASSERT(
      static_cast<int64_t>(token_ids.size()) == n && static_cast<int64_t>(new_mask.size()) == n,
      "step inputs");
  ALISA_ASSERT(length_ + n_new <= shape_.capacity, "cache of ", shape_.capacity, " tokens is full");
  ALISA_ASSERT(rows == LogitRows::kLast || shape_.all_logits, "all-position logits not reserved");
  for (int32_t id : token_ids) {
    ALISA_ASSERT(id >= 0 && id < spec_.vocab_size, "token id ", id, " outside the vocabulary");
  }

  std::vector<int32_t> positions(static_cast<size_t>(n));
  for (int64_t s = 0; s < b; ++s) {
    for (int64_t i = 0; i < n_new; ++i) {
      const size_t at = static_cast<size_t>(s * n_new + i);
      const bool real = new_mask[at] != 0;
      mask_host_[static_cast<size_t>(s * shape_.capacity + length_ + i)] = real ? 1 : 0;
      const int32_t position = real ? n_real_tokens_[static_cast<size_t>(s)]++ : 0;
      positions[at] = position + static_cast<int32_t>(spec_.position_offset);
    }
  }
  copy_host_to_device(token_ids_.slice(0, 0, n), token_ids.data());
  copy_host_to_device(position_ids_.slice(0, 0, n), positions.data());
  copy_host_to_device(key_mask_, mask_host_.data());

  StepBatch step{.batch = b,
                 .n_new = n_new,
                 .past = length_,
                 .prefill = length_ == 0,
                 .token_ids = token_ids_.slice(0, 0, n),
                 .position_ids = position_ids_.slice(0, 0, n),
                 .key_mask = key_mask_};
  const Tensor hidden = hidden_.slice(0, 0, n);
  program_.embed(weights_.globals(), step, scratch_, hidden, ops_);
  for (int64_t j = 0; j < spec_.n_layers; ++j) {
    program_.layer(weights_.resident_layer(j), cache_[static_cast<size_t>(j)], step, scratch_,
                   hidden, ops_);
  }
  length_ += n_new;

  if (rows == LogitRows::kAll) {
    logits_view_ = logits_.slice(0, 0, n);
    program_.head(weights_.globals(), hidden, scratch_, staging_rows(n), logits_view_, ops_);
  } else {
    const Tensor last = hidden.reshape({b, n_new, spec_.hidden_size}).slice(1, n_new - 1, n_new);
    ops_.copy(last, head_rows_.reshape({b, 1, spec_.hidden_size}));
    logits_view_ = logits_.slice(0, 0, b);
    program_.head(weights_.globals(), head_rows_, scratch_, staging_rows(b), logits_view_, ops_);
  }
}

Tensor BatchRunner::staging_rows(int64_t rows) const {
  return logits_staging_.empty() ? Tensor() : logits_staging_.slice(0, 0, rows);
}

std::vector<float> BatchRunner::logits_to_host() const {
  return alisa::logits_to_host(logits_view_);
}

std::vector<int32_t> BatchRunner::sample(const SamplingSettings& settings,
                                         std::span<const uint64_t> rng_keys, uint64_t step) {
  ALISA_ASSERT(logits_view_.size(0) == shape_.batch, "sample needs the last step's kLast logits");
  return sample_rows(ops_, logits_view_, rng_keys_, sampled_, rng_keys, step, settings);
}

}  // namespace alisa
