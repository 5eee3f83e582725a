// Generator: runs blocks of requests, each with its own settings (sampling, token budget, EOS,
// log-probabilities), and hands every sequence over as soon as it finishes. `Engine::generate`
// and batch jobs (`batch_job.h`) both run on it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "runtime/jobs/engine.h"

namespace alisa {

// A sampling stream per (seed, stream): the same request samples the same tokens in any block.
uint64_t sampling_key(uint64_t seed, uint64_t stream);

struct Request {
  std::vector<int32_t> token_ids;
  uint64_t key = 0;  // the request's sampling stream (sampling_key)
  int64_t max_new_tokens = 32;
  SamplingSettings sampling;
  bool stop_at_eos = true;
  int32_t logprobs = -1;  // -1: none; N >= 0: each token's log-probability and the N likeliest
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
};

// The model's log-probabilities (before temperature, top-k and top-p) at one generated token.
struct StepLogprobs {
  float logprob = 0;              // of the chosen token
  std::vector<TokenLogprob> top;  // the likeliest, most likely first
};

enum class FinishReason { kLength, kStop };  // stop: EOS or a caller's stop (a stop string)

struct Completion {
  std::vector<int32_t> tokens;         // EOS included when it ended the sequence
  std::vector<StepLogprobs> logprobs;  // one per token when the request asked
  FinishReason finish = FinishReason::kLength;
};

struct BlockHooks {
  // After each token of row `row`: true ends the sequence there (finish reason stop).
  std::function<bool(size_t row, const std::vector<int32_t>& tokens)> stop;
  // Each sequence as it finishes.
  std::function<void(size_t row, Completion&& completion)> finished;
  // After each decode step, with the tokens it made; false abandons the rest of the block.
  std::function<bool(int64_t new_tokens)> step;
};

// A stream of requests through the block (Generator::run_stream), each handed over by itself.
struct StreamHooks {
  // After each token of `request`: true ends it there (finish reason stop).
  std::function<bool(const Request& request, const std::vector<int32_t>& tokens)> stop;
  std::function<void(const Request& request, Completion&& completion)> finished;
  // After each step, with the tokens it made; false abandons the stream.
  std::function<bool(int64_t new_tokens)> step;
};

// What a stream's schedule did: a slot-step is one row of the block in one decode step; an idle
// one holds no live sequence.
struct StreamStats {
  int64_t blocks = 0;
  int64_t decode_steps = 0;
  int64_t slot_steps = 0;
  int64_t idle_slot_steps = 0;
  int64_t refills = 0;
  int64_t generated_tokens = 0;
  bool refill = false;  // whether rows were refilled (asked for and the policy serves it)
  // Adds another run's counts (a job's windows); `refill` when either refilled.
  void add(const StreamStats& other);
  double idle_share() const {
    return slot_steps == 0 ? 0.0 : static_cast<double>(idle_slot_steps) / slot_steps;
  }
};

// The log-probabilities of `chosen` and the `top` likeliest tokens in one row of logits.
StepLogprobs step_logprobs(const float* logits, int64_t vocab, int32_t chosen, int32_t top);

class Generator {
 public:
  // Blocks of up to n_sequences requests (fewer when the engine's policy says so), prompts of up
  // to max_prompt tokens, up to max_new_tokens new tokens each. `capacity` (0: max_prompt +
  // max_new_tokens) is the cache positions of a row: with refill, more lets a block take new
  // prompts for longer (rows share one write index). `refill`: run_stream may refill rows (the
  // runner is made with refill lanes, and its memory plan counts them).
  Generator(Engine& engine, int64_t n_sequences, int64_t max_prompt, int64_t max_new_tokens,
            int64_t capacity, bool refill);
  ~Generator();

  int64_t block_size() const;
  // Runs one block of 1..block_size() requests (checked against the sizes above by the caller);
  // false when hooks.step abandoned it.
  bool run(std::span<const Request* const> requests, const BlockHooks& hooks);
  // Runs the requests `next` hands out (null: none left), in blocks. Made with `refill` (continuous
  // batching) and where the policy serves it, a finished sequence's row takes the next request
  // inside the schedule whenever it fits (BlockRunner's RowRefill); else each block runs until all
  // its sequences finished (the static schedule). Requests must fit the sizes above. False when
  // hooks.step abandoned it.
  bool run_stream(const std::function<const Request*()>& next, const StreamHooks& hooks,
                  StreamStats& stats);

 private:
  // run_stream, with refill or (run's one block) without.
  bool stream(const std::function<const Request*()>& next, const StreamHooks& hooks, bool refill,
              StreamStats& stats);
  // Each live row (non-null) sampled at its own step; idle rows get 0.
  std::vector<int32_t> sample_rows(std::span<const Request* const> rows,
                                   std::span<const uint64_t> steps);

  Engine& engine_;
  std::unique_ptr<BlockRunner> runner_;
};

}  // namespace alisa
