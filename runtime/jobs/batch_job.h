// A batch job: the lines of a job file (this shard's, not yet in the output) through the
// Generator, a bounded window at a time, each record written as soon as it is ready (completion
// order). Bad lines become error records and the job goes on.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "runtime/jobs/generator.h"
#include "runtime/jobs/job_output.h"
#include "runtime/jobs/job_records.h"
#include "runtime/jobs/job_requests.h"

namespace alisa {

// The job's flags: every line's settings unless it gives its own.
struct JobDefaults {
  int64_t max_new_tokens = 32;
  SamplingSettings sampling;
  uint64_t seed = 0;
  bool stop_at_eos = true;
  bool refill = true;  // continuous batching: a finished sequence's row takes the next line
};

// The first pass over a job: what the runner must be sized for, before the model loads.
struct JobScan {
  int64_t lines = 0;           // this shard's lines
  int64_t good = 0;            // of which would run (duplicates aside)
  int64_t longest_prompt = 1;  // tokens
  int64_t max_new_tokens = 1;
};

struct JobCounts {
  int64_t skipped = 0;    // already in the output (resume)
  int64_t completed = 0;  // results written by this run
  int64_t errors = 0;     // error records written by this run
  int64_t tokens_in = 0;  // prompt tokens of the completed lines
  int64_t tokens_out = 0;
  std::string first_error;  // "FILE:LINE: reason"
  // The schedule that ran them, summed over the job's windows: blocks, refills (continuous
  // batching), slot-steps and the idle ones; `refill` set when any window refilled.
  StreamStats schedule;
};

struct JobHooks {
  std::function<void(const JobCounts&)> progress;  // after every decode step
  std::function<bool()> cancelled;                 // true: stop after the step in hand
};

class BatchJob {
 public:
  BatchJob(std::filesystem::path input, Shard shard, JobDefaults defaults,
           const Tokenizer* tokenizer, const ModelSpec& spec);

  // Reads every line once: sizes for the runner, nothing kept per line.
  JobScan scan() const;
  // Whether the job refills rows (JobDefaults::refill): its Generator is made for it.
  bool refill() const { return defaults_.refill; }
  // Runs the lines whose records are not in `written` (window: how many good lines are read
  // ahead and sorted by length); false when hooks.cancelled stopped it. `generator` may be null
  // when scan() found no good line.
  bool run(Generator* generator, JobOutput& output, WrittenRecords written,
           const RecordContext& context, int64_t window, const JobHooks& hooks,
           JobCounts& counts) const;

 private:
  // The line's request, or its error set on the line.
  Request prepare(JobLine& line) const;
  std::string where(const JobLine& line) const;

  std::filesystem::path input_;
  Shard shard_;
  JobDefaults defaults_;
  const Tokenizer* tokenizer_;
  const ModelSpec& spec_;
};

}  // namespace alisa
