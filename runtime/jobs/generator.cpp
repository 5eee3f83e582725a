#include "runtime/jobs/generator.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>
#include <unordered_map>
#include <utility>

#include "policy/job_schedule.h"

namespace alisa {
namespace {

// Settings that sample alike: every greedy row is the same whatever its top-k and top-p.
bool same_sampling(const SamplingSettings& a, const SamplingSettings& b) {
  if (a.temperature == 0 && b.temperature == 0) return true;
  return a.temperature == b.temperature && a.top_k == b.top_k && a.top_p == b.top_p;
}

}  // namespace

uint64_t sampling_key(uint64_t seed, uint64_t stream) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ull + stream + 1;
  z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdull;
  z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53ull;
  return z ^ (z >> 33);
}

StepLogprobs step_logprobs(const float* logits, int64_t vocab, int32_t chosen, int32_t top) {
  const float max = *std::max_element(logits, logits + vocab);
  double sum = 0;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(logits[v]) - max);
  const double log_sum = std::log(sum) + max;
  const auto logprob = [&](int64_t v) {
    return static_cast<float>(static_cast<double>(logits[v]) - log_sum);
  };
  StepLogprobs out{.logprob = logprob(chosen), .top = {}};
  const int64_t n = std::min<int64_t>(top, vocab);
  std::vector<int32_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  // Ties go to the lower id, as greedy decoding picks.
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  for (int64_t i = 0; i < n; ++i) {
    out.top.push_back({.token = order[static_cast<size_t>(i)],
                       .logprob = logprob(order[static_cast<size_t>(i)])});
  }
  return out;
}

void StreamStats::add(const StreamStats& other) {
  blocks += other.blocks;
  decode_steps += other.decode_steps;
  slot_steps += other.slot_steps;
  idle_slot_steps += other.idle_slot_steps;
  refills += other.refills;
  generated_tokens += other.generated_tokens;
  refill = refill || other.refill;
}

Generator::Generator(Engine& engine, int64_t n_sequences, int64_t max_prompt,
                     int64_t max_new_tokens, int64_t capacity, bool refill)
    : engine_(engine),
      runner_(engine.make_block_runner(n_sequences, std::max(capacity, max_prompt + max_new_tokens),
                                       max_prompt, refill)) {}

Generator::~Generator() = default;

int64_t Generator::block_size() const {
  return runner_->shape().block_size();
}

bool Generator::run(std::span<const Request* const> requests, const BlockHooks& hooks) {
  ALISA_ASSERT(!requests.empty() && static_cast<int64_t>(requests.size()) <= block_size(),
               "a block of ", requests.size(), " requests for ", block_size(), " rows");
  // One block of the static schedule: the stream of these requests, without refill.
  std::unordered_map<const Request*, size_t> row_of;
  for (size_t row = 0; row < requests.size(); ++row) row_of.emplace(requests[row], row);
  StreamHooks stream{.stop = {}, .finished = {}, .step = hooks.step};
  if (hooks.stop) {
    stream.stop = [&](const Request& r, const std::vector<int32_t>& tokens) {
      return hooks.stop(row_of.at(&r), tokens);
    };
  }
  if (hooks.finished) {
    stream.finished = [&](const Request& r, Completion&& completion) {
      hooks.finished(row_of.at(&r), std::move(completion));
    };
  }
  size_t next = 0;
  StreamStats stats;
  return this->stream(
      [&]() -> const Request* { return next < requests.size() ? requests[next++] : nullptr; },
      stream, false, stats);
}

std::vector<int32_t> Generator::sample_rows(std::span<const Request* const> rows,
                                            std::span<const uint64_t> steps) {
  const int64_t block = block_size();
  std::vector<uint64_t> keys(static_cast<size_t>(block), 0);
  bool all_greedy = true;
  for (int64_t i = 0; i < block; ++i) {
    const Request* request = rows[static_cast<size_t>(i)];
    if (request == nullptr) continue;
    keys[static_cast<size_t>(i)] = request->key;
    all_greedy = all_greedy && request->sampling.temperature == 0;
  }
  if (all_greedy) return runner_->sample_rows(SamplingSettings{}, keys, 0, 0);
  // Runs of rows that sample alike at the same step (greedy rows at any step), one launch each.
  std::vector<int32_t> tokens(static_cast<size_t>(block), 0);
  for (int64_t first = 0; first < block;) {
    const Request* head = rows[static_cast<size_t>(first)];
    if (head == nullptr) {
      ++first;
      continue;
    }
    const bool greedy = head->sampling.temperature == 0;
    const uint64_t step = steps[static_cast<size_t>(first)];
    int64_t end = first + 1;
    while (end < block && rows[static_cast<size_t>(end)] != nullptr &&
           same_sampling(rows[static_cast<size_t>(end)]->sampling, head->sampling) &&
           (greedy || steps[static_cast<size_t>(end)] == step)) {
      ++end;
    }
    const std::vector<int32_t> got =
        runner_->sample_rows(head->sampling,
                             std::span<const uint64_t>(keys).subspan(
                                 static_cast<size_t>(first), static_cast<size_t>(end - first)),
                             step, first);
    std::copy(got.begin(), got.end(), tokens.begin() + first);
    first = end;
  }
  return tokens;
}

bool Generator::run_stream(const std::function<const Request*()>& next, const StreamHooks& hooks,
                           StreamStats& stats) {
  // The runner has refill lanes when it was made for refill and the policy serves it.
  return stream(next, hooks, runner_->has_refill_lanes(), stats);
}

bool Generator::stream(const std::function<const Request*()>& next, const StreamHooks& hooks,
                       bool refill, StreamStats& stats) {
  const int64_t block = block_size();
  const ModelSpec& spec = engine_.spec();
  const int32_t pad_id = spec.pad_token_id >= 0 ? spec.pad_token_id : 0;
  const auto is_eos = [&](int32_t token) {
    return std::find(spec.eos_token_ids.begin(), spec.eos_token_ids.end(), token) !=
           spec.eos_token_ids.end();
  };
  stats.refill = refill;
  // The requests waiting, in order; a freed row takes the first of them that fits (the cost
  // model simulates the same rule: policy/job_schedule.h).
  std::deque<const Request*> queue;
  const auto top_up = [&] {
    while (static_cast<int64_t>(queue.size()) < job_lookahead(block)) {
      const Request* request = next();
      if (request == nullptr) return;
      queue.push_back(request);
    }
  };
  const std::vector<uint8_t> ones(static_cast<size_t>(block), 1);
  const int64_t vocab = spec.vocab_size;

  top_up();
  while (!queue.empty()) {
    // A new block: the first `block` requests waiting, prefilled together; missing rows copy the
    // last request, their results dropped.
    std::vector<const Request*> rows(static_cast<size_t>(block), nullptr);
    for (int64_t i = 0; i < block && !queue.empty(); ++i) {
      rows[static_cast<size_t>(i)] = queue.front();
      queue.pop_front();
      top_up();
    }
    std::vector<const std::vector<int32_t>*> prompts;
    for (int64_t i = 0; i < block; ++i) {
      const Request* request = rows[static_cast<size_t>(i)];
      prompts.push_back(request != nullptr ? &request->token_ids : prompts.back());
    }
    std::vector<int32_t> ids;
    std::vector<uint8_t> mask;
    int64_t seq_len = 0;
    left_pad(prompts, pad_id, ids, mask, seq_len, runner_->kept_positions());
    runner_->reset();
    runner_->step(ids, mask, seq_len);
    ++stats.blocks;

    std::vector<Completion> completions(static_cast<size_t>(block));
    std::vector<uint64_t> steps(static_cast<size_t>(block), 0);  // tokens each request has
    std::vector<RowRefill> refills;
    while (true) {
      std::vector<int32_t> tokens = sample_rows(rows, steps);
      bool want_logprobs = false;
      for (const Request* request : rows) {
        want_logprobs = want_logprobs || (request != nullptr && request->logprobs >= 0);
      }
      const std::vector<float> logits =
          want_logprobs ? runner_->logits_to_host() : std::vector<float>{};
      int64_t n_new = 0;
      for (int64_t s = 0; s < block; ++s) {
        const size_t row = static_cast<size_t>(s);
        const Request* request = rows[row];
        if (request == nullptr) {
          tokens[row] = pad_id;  // an idle row feeds padding
          continue;
        }
        Completion& completion = completions[row];
        completion.tokens.push_back(tokens[row]);
        ++steps[row];
        ++n_new;
        if (request->logprobs >= 0) {
          completion.logprobs.push_back(step_logprobs(&logits[row * static_cast<size_t>(vocab)],
                                                      vocab, tokens[row], request->logprobs));
        }
        const bool stop = (request->stop_at_eos && is_eos(tokens[row])) ||
                          (hooks.stop && hooks.stop(*request, completion.tokens));
        if (stop || static_cast<int64_t>(completion.tokens.size()) >= request->max_new_tokens) {
          completion.finish = stop ? FinishReason::kStop : FinishReason::kLength;
          rows[row] = nullptr;
          if (hooks.finished) hooks.finished(*request, std::move(completion));
          completion = {};
        }
      }
      stats.generated_tokens += n_new;
      if (hooks.step && !hooks.step(n_new)) return false;

      // Idle rows take the first waiting requests that fit.
      refills.clear();
      int64_t lane_tokens = 0;
      for (int64_t s = 0; stats.refill && s < block; ++s) {
        const size_t row = static_cast<size_t>(s);
        if (rows[row] != nullptr) continue;
        const auto fits = [&](const Request* r) {
          const int64_t n = static_cast<int64_t>(r->token_ids.size());
          return runner_->refill_fits(n) && lane_tokens + n <= runner_->max_refill_tokens() &&
                 runner_->length() + r->max_new_tokens <= runner_->shape().capacity;
        };
        const auto taken = std::find_if(queue.begin(), queue.end(), fits);
        if (taken == queue.end()) break;
        const Request* request = *taken;
        queue.erase(taken);
        rows[row] = request;
        steps[row] = 0;
        refills.push_back({.row = s, .prompt = request->token_ids});
        lane_tokens += static_cast<int64_t>(request->token_ids.size());
        ++stats.refills;
      }
      top_up();
      int64_t idle = 0;
      for (const Request* request : rows) idle += request == nullptr ? 1 : 0;
      if (idle == block) break;  // every sequence of the block finished
      ++stats.decode_steps;
      stats.slot_steps += block;
      stats.idle_slot_steps += idle;
      runner_->step(tokens, ones, 1, refills);
    }
  }
  return true;
}

}  // namespace alisa
