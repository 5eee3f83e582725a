// The block schedule of a whole job, step by step, as the engine runs it: blocks of B rows that
// share one cache write index, with or without refill (continuous batching: a row whose sequence
// finished takes the next request of the job, whose prompt is prefilled inside a decode step as
// a "lane"). The cost model prices these steps (predict with CostInputs::job); bench's uneven
// workload measures them. docs/COST_MODEL.md, "Jobs of uneven lengths", states the rule.
#pragma once

#include <cstdint>
#include <vector>

#include "policy/length_distribution.h"

namespace alisa {

struct JobShape {
  int64_t rows = 1;      // B = gpu_batch_size * num_gpu_batches
  int64_t capacity = 0;  // C: cache positions per row
  int64_t kept = 0;      // Phase III's kept positions (0 without)
  bool refill = false;
};

// One step of the schedule.
struct JobStep {
  bool prefill = false;  // a block's start: every row left-padded to `write_index` tokens
  // Prefill: P, the tokens of the step (the cache holds [0, P) after it). Decode: w, the cache
  // index every row writes.
  int64_t write_index = 0;
  int64_t live_rows = 0;              // rows whose sequence produces a token in this step
  std::vector<int64_t> lane_prompts;  // decode: the prompts prefilled as lanes, in FIFO order
};

struct JobSchedule {
  std::vector<JobStep> steps;
  int64_t prefills = 0;  // blocks started
  int64_t decode_steps = 0;
  int64_t slot_steps = 0;        // rows * decode_steps
  int64_t idle_slot_steps = 0;   // decode steps' rows without a live sequence
  int64_t lanes = 0;             // requests that started by refill
  int64_t generated_tokens = 0;  // sum of the sequences' gen_len
  double idle_share() const {
    return slot_steps > 0 ? static_cast<double>(idle_slot_steps) / static_cast<double>(slot_steps)
                          : 0;
  }
};

// The steps of `job` (requests in FIFO order) under `shape`:
// - a block takes up to B requests and prefills them at P = max(longest prompt, kept) tokens;
//   each sequence's first token comes from the prefill; then every decode step writes index w
//   for every row (idle ones feed padding) and w += 1; a sequence of gen_len g has finished
//   after the prefill when g = 1, else after g - 1 decode steps;
// - with refill, after each step each row without a sequence takes the first waiting request
//   (of the next job_lookahead(B) in job order) that fits, p <= w + 1 - kept and w + g <= C (w:
//   the index the next step writes): its prompt is a lane of that step, at positions
//   [w + 1 - p, w + 1), and the step's logits give its first token. First fit rather than the
//   head alone: a head that no longer fits this block (w + g > C) would otherwise leave every
//   freed row idle until the block drained;
// - a block ends when none of its rows has a sequence; the next one starts while requests
//   remain. Without refill a block runs until its longest sequence finished.
// Throws alisa::Error when a request can never run (p < 1, g < 1, or P + g - 1 > C: its block's
// prefill and decode would not fit the capacity).
// How many waiting requests (in job order) a freed row may choose from: the block's rows.
inline int64_t job_lookahead(int64_t rows) {
  return rows;
}

JobSchedule simulate_job(const std::vector<SequenceLengths>& job, const JobShape& shape);

}  // namespace alisa
