#include "runtime/jobs/batch_job.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace alisa {
namespace {

struct Pending {
  JobLine line;
  Request request;
};

// Where the first of the stop strings that occurs begins in `text`; npos when none does.
size_t stop_at(const std::string& text, const std::vector<std::string>& stops) {
  size_t at = std::string::npos;
  for (const std::string& stop : stops) at = std::min(at, text.find(stop));
  return at;
}

}  // namespace

BatchJob::BatchJob(std::filesystem::path input, Shard shard, JobDefaults defaults,
                   const Tokenizer* tokenizer, const ModelSpec& spec)
    : input_(std::move(input)),
      shard_(shard),
      defaults_(defaults),
      tokenizer_(tokenizer),
      spec_(spec) {}

std::string BatchJob::where(const JobLine& line) const {
  return str(input_.string(), ":", line.line);
}

Request BatchJob::prepare(JobLine& line) const {
  const auto fail = [&](const char* code, std::string message) {
    line.error_code = code;
    line.error = std::move(message);
    return Request{};
  };
  const RequestSettings& s = line.settings;
  Request request;
  if (line.text) {
    if (!tokenizer_) {
      return fail("invalid_request",
                  "the prompt is text but the model has no tokenizer.json (give prompt_ids, or "
                  "--tokenizer FILE)");
    }
    request.token_ids = tokenizer_->encode(*line.text, /*add_special_tokens=*/true);
  } else {
    request.token_ids = *line.ids;
  }
  if (!s.stop.empty() && !tokenizer_) {
    return fail("invalid_request", "stop strings need a tokenizer (--tokenizer FILE)");
  }
  if (request.token_ids.empty()) return fail("invalid_request", "the prompt is empty");
  for (const int32_t id : request.token_ids) {
    if (id >= spec_.vocab_size) {
      return fail("invalid_request",
                  str("token id ", id, " is outside the model's vocabulary of ", spec_.vocab_size));
    }
  }
  request.max_new_tokens = s.max_tokens.value_or(defaults_.max_new_tokens);
  const int64_t n = static_cast<int64_t>(request.token_ids.size());
  if (n + request.max_new_tokens > spec_.max_positions) {
    return fail(
        "context_length_exceeded",
        str("the prompt has ", n, " tokens; with ", request.max_new_tokens, " new tokens it needs ",
            n + request.max_new_tokens, " positions but the model has ", spec_.max_positions));
  }
  request.sampling = {.temperature = s.temperature.value_or(defaults_.sampling.temperature),
                      .top_k = s.top_k.value_or(defaults_.sampling.top_k),
                      .top_p = s.top_p.value_or(defaults_.sampling.top_p)};
  // Keyed by the request alone: the same id (or seed) samples alike in any file or shard.
  request.key = sampling_key(defaults_.seed, s.seed ? *s.seed : id_hash(line.id));
  request.stop_at_eos = defaults_.stop_at_eos;
  request.logprobs = s.logprobs.value_or(-1);
  return request;
}

JobScan BatchJob::scan() const {
  JobReader reader(input_, shard_);
  JobScan scan;
  JobLine line;
  while (reader.next(line)) {
    ++scan.lines;
    if (!line.ok()) continue;
    const Request request = prepare(line);
    if (!line.ok()) continue;
    ++scan.good;
    scan.longest_prompt =
        std::max(scan.longest_prompt, static_cast<int64_t>(request.token_ids.size()));
    scan.max_new_tokens = std::max(scan.max_new_tokens, request.max_new_tokens);
  }
  return scan;
}

bool BatchJob::run(Generator* generator, JobOutput& output, WrittenRecords written,
                   const RecordContext& context, int64_t window, const JobHooks& hooks,
                   JobCounts& counts) const {
  const auto cancelled = [&] { return hooks.cancelled && hooks.cancelled(); };
  const auto write_error = [&](const JobLine& line) {
    output.write(error_record(line, context));
    ++counts.errors;
    if (counts.first_error.empty()) counts.first_error = where(line) + ": " + line.error;
  };

  std::vector<Pending> pending;
  // Longest first, so that a block's prompts are of similar lengths; one block at a time.
  const auto run_pending = [&]() -> bool {
    std::stable_sort(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) {
      return a.request.token_ids.size() > b.request.token_ids.size();
    });
    if (pending.empty()) return true;
    ALISA_ASSERT(generator, "good lines to run but no generator");
    std::unordered_map<const Request*, const Pending*> line_of;
    for (const Pending& p : pending) line_of[&p.request] = &p;
    const auto stops = [&](const Request& r) -> const std::vector<std::string>& {
      return line_of.at(&r)->line.settings.stop;
    };
    const StreamHooks stream_hooks{
        .stop =
            [&](const Request& r, const std::vector<int32_t>& tokens) {
              return !stops(r).empty() &&
                     stop_at(tokenizer_->decode(tokens, true), stops(r)) != std::string::npos;
            },
        .finished =
            [&](const Request& r, Completion&& completion) {
              const Pending& p = *line_of.at(&r);
              JobResult result{.completion = std::move(completion),
                               .text = std::nullopt,
                               .prompt_tokens = static_cast<int64_t>(r.token_ids.size())};
              if (tokenizer_) {
                std::string text = tokenizer_->decode(result.completion.tokens, true);
                if (result.completion.finish == FinishReason::kStop) {
                  text = text.substr(0, stop_at(text, stops(r)));
                }
                result.text = std::move(text);
              }
              output.write(result_record(p.line, result, context));
              ++counts.completed;
              counts.tokens_in += result.prompt_tokens;
            },
        .step =
            [&](int64_t new_tokens) {
              counts.tokens_out += new_tokens;
              output.sync_if_due();
              if (hooks.progress) hooks.progress(counts);
              return !cancelled();
            }};
    size_t next = 0;
    StreamStats stats;
    const bool whole = generator->run_stream(
        [&]() -> const Request* {
          return next < pending.size() ? &pending[next++].request : nullptr;
        },
        stream_hooks, stats);
    counts.schedule.add(stats);
    output.sync();
    if (!whole) return false;
    pending.clear();
    return true;
  };

  JobReader reader(input_, shard_);
  IdSet seen;
  std::unordered_map<uint64_t, int64_t> repeats;
  JobLine line;
  while (reader.next(line)) {
    const uint64_t id = id_hash(line.id);
    if (line.id.is_null() || !seen.insert(id)) {
      if (!line.id.is_null()) {
        line.error_code = "duplicate_id";
        line.error = str("id ", line.id.dump(), " repeats an earlier line's");
      }
      // Repeats are written in line order: a resume skips those written before.
      if (++repeats[id] <= written.repeats[id]) continue;
      write_error(line);
      continue;
    }
    if (written.done.contains(id)) {
      ++counts.skipped;
      continue;
    }
    Request request;
    if (line.ok()) request = prepare(line);
    if (!line.ok()) {
      write_error(line);
      continue;
    }
    pending.push_back({std::move(line), std::move(request)});
    if (static_cast<int64_t>(pending.size()) >= window) {
      if (cancelled() || !run_pending()) return false;
    }
  }
  if (cancelled()) return false;
  const bool whole = run_pending();
  output.sync();
  return whole;
}

}  // namespace alisa
