// BatchRunner: one batch of sequences through the decoder on one device, with its KV cache,
// scratch and position bookkeeping. Prefill and decode are the same call with a different
// number of new tokens. The all-resident path of forward and perplexity (all-position logits);
// generation runs on BlockRunner, the offloading schedule over the same DecoderProgram.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/program/decoder_program.h"
#include "runtime/schedule/weight_store.h"

namespace alisa {

enum class LogitRows : uint8_t { kLast, kAll };

struct BatchShape {
  int64_t batch = 1;
  int64_t capacity = 1;                  // cache tokens per sequence (prompt + generated)
  int64_t max_step_tokens = 1;           // per sequence in one call (the padded prompt length)
  bool all_logits = false;               // whether kAll rows will be asked for
  DType activation_dtype = DType::kF32;  // of hidden states, scratch and the KV cache
};

class BatchRunner {
 public:
  BatchRunner(const ModelSpec& spec, const WeightStore& weights, Ops& ops, Device& device,
              const BatchShape& shape);

  // Appends n_new tokens to every sequence: token_ids and new_mask are [batch, n_new] (row
  // major); new_mask 0 marks left padding. Positions follow Hugging Face: a token's position is
  // the number of real tokens before it in its sequence.
  void step(std::span<const int32_t> token_ids, std::span<const uint8_t> new_mask, int64_t n_new,
            LogitRows rows);

  // Logits of the last step: [batch, vocab] (kLast) or [batch * n_new, vocab] (kAll).
  const Tensor& logits() const { return logits_view_; }
  std::vector<float> logits_to_host() const;
  // One token per sequence from the last step's kLast logits.
  std::vector<int32_t> sample(const SamplingSettings& settings, std::span<const uint64_t> rng_keys,
                              uint64_t step);

 private:
  Tensor staging_rows(int64_t rows) const;

  const ModelSpec& spec_;
  const WeightStore& weights_;
  Ops& ops_;
  Device& device_;
  BatchShape shape_;
  DecoderProgram program_;

  std::vector<Buffer> buffers_;
  std::vector<KvLayerView> cache_;  // per layer
  DecoderScratch scratch_;
  Tensor key_mask_;        // [batch, capacity] u8
  Tensor token_ids_;       // [batch * max_step_tokens] i32
  Tensor position_ids_;    // [batch * max_step_tokens] i32
  Tensor hidden_;          // [batch * max_step_tokens, hidden]
  Tensor head_rows_;       // [batch, hidden]
  Tensor logits_;          // [batch * max_step_tokens or batch, vocab] f32
  Tensor logits_staging_;  // like logits_, in the activation dtype (when that is not f32)
  Tensor logits_view_;
  Tensor rng_keys_;  // [batch] u64
  Tensor sampled_;   // [batch] i32

  std::vector<uint8_t> mask_host_;      // [batch, capacity]
  std::vector<int32_t> n_real_tokens_;  // [batch]
  int64_t length_ = 0;
};

}  // namespace alisa
