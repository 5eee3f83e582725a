#include "runtime/jobs/engine.h"

#include <algorithm>

#include "policy/memory_plan.h"
#include "policy/solver.h"
#include "runtime/jobs/generator.h"
#include "runtime/model/safetensors.h"
#include "runtime/model/tensor_shapes.h"
#include "runtime/program/swa.h"
#include "runtime/schedule/block_memory.h"

namespace alisa {
namespace {

constexpr std::string_view kDummyPrefix = "dummy:";

bool is_dummy(const std::string& model) {
  return model.rfind(kDummyPrefix, 0) == 0;
}

}  // namespace

std::filesystem::path default_offload_dir() {
  return std::filesystem::temp_directory_path() / "alisa-offload";
}

ModelSpec open_model_spec(const std::string& model) {
  ALISA_CHECK(!model.empty(), "no model given (--model DIR or --model dummy:NAME)");
  if (is_dummy(model)) return named_model_spec(model.substr(kDummyPrefix.size()));
  // The folder and its checkpoint file are checked before anything else reads the job: a job's
  // lines fail for the model's sake (no tokenizer.json) only once the model is known to be there.
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(model, ec);
  ALISA_CHECK(std::filesystem::exists(status), "model folder '", model, "' does not exist");
  ALISA_CHECK(std::filesystem::is_directory(status), "--model '", model,
              "' is not a folder: give a checkpoint folder (config.json, model.safetensors) or "
              "dummy:NAME");
  ModelSpec spec = load_model_spec(model);
  SafetensorsCheckpoint::folder_entry(model);
  return spec;
}

Engine::Engine(const EngineOptions& options)
    : spec_(open_model_spec(options.model)),
      backend_(make_backend(options.backend, spec_.torch_dtype)),
      policy_(options.policy),
      swa_(options.swa),
      offload_dir_(options.offload_dir.empty() ? default_offload_dir() : options.offload_dir) {
  timeline_.set_keep_spans(options.keep_trace_spans);
  validate(swa_, "swa");
  const Policy policy = policy_.value_or(Policy{});
  if (policy_) {
    // Refuse a plan whose weights alone do not fit before anything is allocated; the whole plan
    // (cache, activations, workspace) is checked when a workload's runner is made.
    const WeightBytes weights = placed_weight_bytes(tensor_shapes(weight_layout(spec_)), policy,
                                                    dtype_size(activation_dtype()));
    MemoryPlan plan;  // the weights themselves must fit first
    plan.gpu.weights = weights.gpu;
    plan.cpu.weights = weights.cpu;
    plan.disk.weights = weights.disk;
    check_fits(plan, {.gpu_bytes = device().limit_bytes(), .cpu_bytes = cpu_tier().limit_bytes()},
               "the policy's weights");
  }
  if (policy.weights_disk_percent() > 0 || policy.cache_disk_percent() > 0 ||
      policy.activations_disk_percent() > 0) {
    io_ = std::make_unique<IoPool>();
  }
  copies_ = std::make_unique<CopyEngine>(device(), timeline_, io_.get());
  std::unique_ptr<WeightSource> source = is_dummy(options.model)
                                             ? make_dummy_weights(options.dummy_seed)
                                             : open_checkpoint_weights(options.model);
  weights_ = std::make_unique<WeightStore>(spec_, *source, tiers(), activation_dtype(),
                                           weight_placement_of(policy));
  if (!is_dummy(options.model)) {
    const std::filesystem::path tokenizer_path =
        std::filesystem::path(options.model) / "tokenizer.json";
    if (std::filesystem::exists(tokenizer_path)) tokenizer_ = Tokenizer::load(tokenizer_path);
  }
}

Engine::~Engine() = default;

Tiers Engine::tiers() const {
  const bool pageable_weights = policy_ && !policy_->pin_weights && backend_.cpu_pageable;
  return {.compute = backend_.device.get(),
          .cpu = backend_.cpu_tier.get(),
          .cpu_weights = pageable_weights ? backend_.cpu_pageable.get() : backend_.cpu_tier.get(),
          .disk_dir = offload_dir_};
}

BatchRunner Engine::make_runner(const BatchShape& shape) {
  ALISA_CHECK(weights_->fully_resident(),
              "this command needs every weight on the compute device, uncompressed, but the "
              "policy keeps ",
              100 - policy_->weights_gpu_percent, "% of them elsewhere",
              policy_->compress_weights ? " and compresses them" : "");
  check_within_sliding_window(spec_, shape.capacity);
  BatchShape with_dtype = shape;
  with_dtype.activation_dtype = activation_dtype();
  return BatchRunner(spec_, *weights_, ops(), device(), with_dtype);
}

std::unique_ptr<BlockRunner> Engine::make_block_runner(int64_t n_sequences, int64_t capacity,
                                                       int64_t max_step_tokens, bool refill) {
  ALISA_ASSERT(n_sequences >= 1, "a block of no sequences");
  check_within_sliding_window(spec_, capacity);
  Policy policy = policy_.value_or(Policy{});
  if (!policy_) policy.gpu_batch_size = n_sequences;
  // A job smaller than the block gets fewer (or smaller) GPU batches, not padding.
  if (n_sequences < policy.block_size()) {
    policy.num_gpu_batches = (n_sequences + policy.gpu_batch_size - 1) / policy.gpu_batch_size;
    if (policy.num_gpu_batches == 1) policy.gpu_batch_size = n_sequences;
  }
  const MemoryCaps caps{.gpu_bytes = device().limit_bytes(), .cpu_bytes = cpu_tier().limit_bytes()};
  auto plan_for = [&](const Policy& p) {
    return block_memory_plan(spec_, swa_, p, capacity, max_step_tokens, activation_dtype(), refill);
  };
  if (policy.cache_recompute_auto) {
    policy.cache_recompute_percent =
        auto_recompute_percent(policy, plan_for, caps.cpu_bytes, capacity, max_step_tokens,
                               phase3_applies(model_footprint(spec_), swa_));
  }
  check_fits(plan_for(policy), caps, policy_ ? "the policy" : "the batch");
  const BlockShape shape{.gpu_batch_size = policy.gpu_batch_size,
                         .num_gpu_batches = policy.num_gpu_batches,
                         .capacity = capacity,
                         .max_step_tokens = max_step_tokens,
                         .activation_dtype = activation_dtype()};
  return std::make_unique<BlockRunner>(spec_, *weights_, ops(), backend_.host_ops(), tiers(),
                                       *copies_, policy, shape, swa_, refill);
}

void Engine::validate_prompt(const std::vector<int32_t>& ids, int64_t max_new_tokens,
                             const std::string& name) const {
  ALISA_CHECK(!ids.empty(), name, " is empty");
  for (int32_t id : ids) {
    ALISA_CHECK(id >= 0 && id < spec_.vocab_size, name, " has token id ", id,
                " outside the model's vocabulary of ", spec_.vocab_size);
  }
  const int64_t needed = static_cast<int64_t>(ids.size()) + max_new_tokens;
  ALISA_CHECK(needed <= spec_.max_positions, name, " has ", ids.size(), " tokens; with ",
              max_new_tokens, " new tokens it needs ", needed, " positions but the model has ",
              spec_.max_positions);
}

void left_pad(const std::vector<const std::vector<int32_t>*>& prompts, int32_t pad_id,
              std::vector<int32_t>& ids, std::vector<uint8_t>& mask, int64_t& seq_len,
              int64_t min_len) {
  seq_len = min_len;
  for (const auto* p : prompts)
    seq_len = std::max<int64_t>(seq_len, static_cast<int64_t>(p->size()));
  const size_t n = prompts.size() * static_cast<size_t>(seq_len);
  ids.assign(n, pad_id);
  mask.assign(n, 0);
  for (size_t b = 0; b < prompts.size(); ++b) {
    const std::vector<int32_t>& prompt = *prompts[b];
    const size_t start =
        b * static_cast<size_t>(seq_len) + (static_cast<size_t>(seq_len) - prompt.size());
    std::copy(prompt.begin(), prompt.end(), ids.begin() + static_cast<ptrdiff_t>(start));
    std::fill_n(mask.begin() + static_cast<ptrdiff_t>(start), prompt.size(), uint8_t{1});
  }
}

std::vector<float> Engine::forward(const std::vector<int32_t>& input_ids,
                                   const std::vector<uint8_t>& attention_mask, int64_t batch,
                                   int64_t seq_len) {
  ALISA_CHECK(batch > 0 && seq_len > 0, "forward input is empty");
  ALISA_CHECK(static_cast<int64_t>(input_ids.size()) == batch * seq_len &&
                  static_cast<int64_t>(attention_mask.size()) == batch * seq_len,
              "input_ids and attention_mask must both be [", batch, ", ", seq_len, "]");
  for (int64_t b = 0; b < batch; ++b) {
    int64_t n_real = 0;
    for (int64_t i = 0; i < seq_len; ++i) n_real += attention_mask[b * seq_len + i] != 0;
    ALISA_CHECK(n_real <= spec_.max_positions, "sequence ", b, " has ", n_real,
                " tokens but the model has ", spec_.max_positions, " positions");
  }
  for (int32_t id : input_ids) {
    ALISA_CHECK(id >= 0 && id < spec_.vocab_size, "input_ids has token id ", id,
                " outside the model's vocabulary of ", spec_.vocab_size);
  }
  const int64_t vocab = spec_.vocab_size;
  if (swa_.enabled()) {
    for (int64_t b = 0; b < batch; ++b) {  // a sequence's real tokens must be one run at its end
      const auto row = attention_mask.begin() + b * seq_len;
      const auto first_real = std::find_if(row, row + seq_len, [](uint8_t m) { return m != 0; });
      ALISA_CHECK(std::find(first_real, row + seq_len, uint8_t{0}) == row + seq_len,
                  "sparse window attention needs left-padded input: attention_mask row ", b,
                  " has padding after a real token");
    }
    std::vector<float> logits(static_cast<size_t>(batch * seq_len * vocab));
    teacher_force(input_ids, attention_mask, batch, seq_len,
                  [&](int64_t t, const std::vector<float>& step_logits) {
                    for (int64_t b = 0; b < batch; ++b) {
                      std::copy_n(step_logits.begin() + b * vocab, vocab,
                                  logits.begin() + (b * seq_len + t) * vocab);
                    }
                  });
    return logits;
  }
  BatchRunner runner = make_runner(
      {.batch = batch, .capacity = seq_len, .max_step_tokens = seq_len, .all_logits = true});
  runner.step(input_ids, attention_mask, seq_len, LogitRows::kAll);
  return runner.logits_to_host();
}

void Engine::teacher_force(
    const std::vector<int32_t>& input_ids, const std::vector<uint8_t>& attention_mask,
    int64_t batch, int64_t seq_len,
    const std::function<void(int64_t t, const std::vector<float>& logits)>& on_step) {
  ALISA_ASSERT(static_cast<int64_t>(input_ids.size()) == batch * seq_len &&
                   static_cast<int64_t>(attention_mask.size()) == batch * seq_len,
               "teacher forcing inputs");
  const int64_t vocab = spec_.vocab_size;
  std::unique_ptr<BlockRunner> runner = make_block_runner(
      policy_ ? std::min(batch, policy_->block_size()) : batch, seq_len, 1, false);
  const int64_t block = runner->shape().block_size();
  // Blocks of `block` sequences; a short last block repeats its last sequence.
  std::vector<std::vector<float>> step_logits(
      static_cast<size_t>(seq_len), std::vector<float>(static_cast<size_t>(batch * vocab)));
  for (int64_t first = 0; first < batch; first += block) {
    const int64_t n_real = std::min(block, batch - first);
    runner->reset();
    std::vector<int32_t> ids(static_cast<size_t>(block));
    std::vector<uint8_t> mask(static_cast<size_t>(block));
    for (int64_t t = 0; t < seq_len; ++t) {
      for (int64_t i = 0; i < block; ++i) {
        const int64_t row = first + std::min(i, n_real - 1);
        ids[static_cast<size_t>(i)] = input_ids[static_cast<size_t>(row * seq_len + t)];
        mask[static_cast<size_t>(i)] = attention_mask[static_cast<size_t>(row * seq_len + t)];
      }
      runner->step(ids, mask, 1);
      const std::vector<float> logits = runner->logits_to_host();
      std::copy_n(logits.begin(), n_real * vocab,
                  step_logits[static_cast<size_t>(t)].begin() + first * vocab);
    }
  }
  for (int64_t t = 0; t < seq_len; ++t) on_step(t, step_logits[static_cast<size_t>(t)]);
}

int64_t Engine::block_size_for(int64_t batch_size) const {
  return policy_ ? policy_->block_size() : batch_size;
}

std::vector<std::vector<int32_t>> Engine::generate(const std::vector<Prompt>& prompts,
                                                   const GenerationOptions& options,
                                                   const ProgressFn& progress) {
  ALISA_CHECK(options.max_new_tokens >= 1, "max_new_tokens must be at least 1");
  ALISA_CHECK(options.batch_size >= 1, "batch_size must be at least 1");
  std::vector<Request> requests;
  int64_t max_prompt = 0;
  for (const Prompt& prompt : prompts) {
    validate_prompt(prompt.token_ids, options.max_new_tokens, str("prompt ", prompt.index));
    max_prompt = std::max<int64_t>(max_prompt, static_cast<int64_t>(prompt.token_ids.size()));
    requests.push_back({.token_ids = prompt.token_ids,
                        .key = sampling_key(options.seed, prompt.index),
                        .max_new_tokens = options.max_new_tokens,
                        .sampling = options.sampling,
                        .stop_at_eos = options.stop_at_eos});
  }
  // Batches of similar lengths waste less on padding; results come back in the given order.
  std::vector<const Request*> order;
  for (const Request& request : requests) order.push_back(&request);
  std::stable_sort(order.begin(), order.end(), [](const Request* a, const Request* b) {
    return a->token_ids.size() > b->token_ids.size();
  });

  std::vector<std::vector<int32_t>> results(prompts.size());
  const int64_t total = static_cast<int64_t>(prompts.size()) * options.max_new_tokens;
  int64_t done = 0;
  Generator generator(
      *this,
      std::min<int64_t>(block_size_for(options.batch_size), static_cast<int64_t>(prompts.size())),
      max_prompt, options.max_new_tokens, 0, false);
  const size_t block = static_cast<size_t>(generator.block_size());
  for (size_t first = 0; first < order.size(); first += block) {
    const size_t last = std::min(order.size(), first + block);
    const std::span<const Request* const> rows(order.data() + first, last - first);
    generator.run(rows, {.stop = {},
                         .finished =
                             [&](size_t row, Completion&& completion) {
                               results[static_cast<size_t>(rows[row] - requests.data())] =
                                   std::move(completion.tokens);
                             },
                         .step =
                             [&](int64_t new_tokens) {
                               done += new_tokens;
                               if (progress) progress(done, total);
                               return true;
                             }});
    done = static_cast<int64_t>(last) * options.max_new_tokens;
    if (progress) progress(done, total);
  }
  return results;
}

}  // namespace alisa
