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

#include "policy/policy.h"
#include "runtime/model/model_spec.h"
#include "runtime/model/weights.h"
#include "runtime/ops/backend.h"
#include "runtime/ops/ops.h"
#include "runtime/schedule/batch_runner.h"
#include "runtime/schedule/block_runner.h"
#include "runtime/schedule/weight_store.h"
#include "runtime/text/tokenizer.h"
#include "runtime/tiers/copy_engine.h"

namespace alisa {

// The disk tier's folder when none is given: <temp>/alisa-offload.
std::filesystem::path default_offload_dir();

// The architecture of a checkpoint folder or of dummy:NAME (configs/models/NAME.json).
ModelSpec open_model_spec(const std::string& model);

struct EngineOptions {
  std::string model;           // a checkpoint folder, or "dummy:NAME" (configs/models/NAME.json)
  uint64_t dummy_seed = 1234;  // seed of dummy weights
  BackendOptions backend;      // device (CPU unless asked), threads, memory caps
  // Where weights, KV cache and activations live and how blocks are shaped. None: everything
  // on the compute device, one GPU batch of GenerationOptions::batch_size.
  std::optional<Policy> policy = std::nullopt;
  std::filesystem::path offload_dir = {};  // the disk tier; empty: <temp>/alisa-offload
  bool keep_trace_spans = false;           // keep every span (Timeline::chrome_trace)
  // Sparse Window Attention in decode steps (sparsity 0: dense). forward and perplexity then
  // feed their inputs one token per step (teacher forcing), as generation would see them.
  SwaOptions swa = {};
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

  // Teacher forcing: runs [batch, seq_len] ids and mask (left-padded) one token per step through
  // the offloading schedule (with this engine's policy and SWA options) and calls
  // on_step(t, logits) with the logits [batch, vocab] after token t of every sequence.
  void teacher_force(
      const std::vector<int32_t>& input_ids, const std::vector<uint8_t>& attention_mask,
      int64_t batch, int64_t seq_len,
      const std::function<void(int64_t t, const std::vector<float>& logits)>& on_step);
  const SwaOptions& swa() const { return swa_; }

  // Sequences per block for a job of this batch size: the policy's block when there is one.
  int64_t block_size_for(int64_t batch_size) const;
  // Generated tokens per prompt, in the order given (stopping at EOS when asked, EOS included).
  std::vector<std::vector<int32_t>> generate(const std::vector<Prompt>& prompts,
                                             const GenerationOptions& options,
                                             const ProgressFn& progress = {});

  // A runner over this engine's weights, for callers that drive steps themselves (tests,
  // teacher forcing). Needs every weight on the compute device.
  BatchRunner make_runner(const BatchShape& shape);
  // The offloading schedule for up to n_sequences sequences (the policy's block, or one GPU
  // batch without a policy, never larger than needed), after checking that the policy's memory
  // plan fits the caps. `refill`: with refill lanes (continuous batching), counted in that plan,
  // where the policy serves it.
  std::unique_ptr<BlockRunner> make_block_runner(int64_t n_sequences, int64_t capacity,
                                                 int64_t max_step_tokens, bool refill);
  // Per-stream busy time, bytes per link, overlap; spans when keep_trace_spans.
  Timeline& timeline() { return timeline_; }
  Device& cpu_tier() const { return *backend_.cpu_tier; }

  // Throws alisa::Error when a prompt is empty, has ids outside the vocabulary, or would need
  // more positions than the model has.
  void validate_prompt(const std::vector<int32_t>& ids, int64_t max_new_tokens,
                       const std::string& name) const;

 private:
  Tiers tiers() const;

  ModelSpec spec_;
  Backend backend_;
  std::optional<Policy> policy_;
  SwaOptions swa_;
  std::filesystem::path offload_dir_;
  Timeline timeline_;
  std::unique_ptr<IoPool> io_;
  std::unique_ptr<CopyEngine> copies_;
  std::unique_ptr<WeightStore> weights_;
  std::optional<Tokenizer> tokenizer_;
};

// Left-pads prompts into [batch, seq_len] ids and mask; seq_len is the longest prompt, or
// min_len when that is longer.
void left_pad(const std::vector<const std::vector<int32_t>*>& prompts, int32_t pad_id,
              std::vector<int32_t>& ids, std::vector<uint8_t>& mask, int64_t& seq_len,
              int64_t min_len = 0);

}  // namespace alisa
