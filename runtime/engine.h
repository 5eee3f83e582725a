// Engine: the public C++ API. Opens a model (checkpoint folder or dummy:NAME) on a device and
// runs forward passes and batched generation over it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/backend.h"
#include "runtime/batch_runner.h"
#include "runtime/model_spec.h"
#include "runtime/ops.h"
#include "runtime/tokenizer.h"
#include "runtime/weights.h"

namespace alisa {

struct EngineOptions {
  std::string model;           // a checkpoint folder, or "dummy:NAME" (configs/models/NAME.json)
  uint64_t dummy_seed = 1234;  // seed of dummy weights
  BackendOptions backend;      // device (CPU unless asked), threads, memory caps
};

struct GenerationOptions {
  int64_t max_new_tokens = 32;
  SamplingSettings sampling;
  uint64_t seed = 0;
  int64_t batch_size = 8;
  bool stop_at_eos = true;
};

struct Prompt {
  std::vector<int32_t> token_ids;
  uint64_t index = 0;  // position in the job: keys the sampling stream, so results do not depend
                       // on batching
};

// Called after every decode step with the number of tokens generated so far in the job.
using ProgressFn = std::function<void(int64_t tokens_done, int64_t tokens_total)>;

class Engine {
 public:
  explicit Engine(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const ModelSpec& spec() const { return spec_; }
  // The checkpoint's tokenizer.json, when it has one.
  const Tokenizer* tokenizer() const { return tokenizer_ ? &*tokenizer_ : nullptr; }
  Device& device() const { return *backend_.device; }
  Ops& ops() { return *backend_.ops; }
  DType activation_dtype() const { return backend_.activation_dtype; }

  // Logits [batch, seq_len, vocab] of a left-padded batch (input_ids and attention_mask are
  // [batch, seq_len], row major).
  std::vector<float> forward(const std::vector<int32_t>& input_ids,
                             const std::vector<uint8_t>& attention_mask, int64_t batch,
                             int64_t seq_len);

  // Generated tokens per prompt, in the order given (stopping at EOS when asked, EOS included).
  std::vector<std::vector<int32_t>> generate(const std::vector<Prompt>& prompts,
                                             const GenerationOptions& options,
                                             const ProgressFn& progress = {});

  // A runner over this engine's weights, for callers that drive steps themselves (tests,
  // teacher forcing, benchmarks).
  BatchRunner make_runner(const BatchShape& shape);

  // Throws alisa::Error when a prompt is empty, has ids outside the vocabulary, or would need
  // more positions than the model has.
  void validate_prompt(const std::vector<int32_t>& ids, int64_t max_new_tokens,
                       const std::string& name) const;

 private:
  ModelSpec spec_;
  Backend backend_;
  std::unique_ptr<ModelWeights> weights_;
  std::optional<Tokenizer> tokenizer_;
};

// Left-pads prompts into [batch, seq_len] ids and mask.
void left_pad(const std::vector<const std::vector<int32_t>*>& prompts, int32_t pad_id,
              std::vector<int32_t>& ids, std::vector<uint8_t>& mask, int64_t& seq_len);

}  // namespace alisa
