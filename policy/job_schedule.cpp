#include "policy/job_schedule.h"

#include <algorithm>
#include <deque>

#include "runtime/base/common.h"

namespace alisa {
namespace {

void check_request(const SequenceLengths& r, size_t index) {
  ALISA_CHECK(r.prompt_len >= 1 && r.gen_len >= 1, "job: request ", index, " has prompt_len ",
              r.prompt_len, " and gen_len ", r.gen_len, "; both must be at least 1");
}

}  // namespace

JobSchedule simulate_job(const std::vector<SequenceLengths>& job, const JobShape& shape) {
  ALISA_CHECK(shape.rows >= 1, "job schedule: a block needs at least one row, got ", shape.rows);
  ALISA_CHECK(shape.kept >= 0 && shape.kept < shape.capacity, "job schedule: kept positions ",
              shape.kept, " must lie in [0, capacity ", shape.capacity, ")");
  const int64_t rows = shape.rows, capacity = shape.capacity, kept = shape.kept;
  JobSchedule out;
  // finishing[i]: live sequences whose last token comes from the step that writes index i.
  std::vector<int64_t> finishing;
  // The requests waiting, in job order: at most `rows` of them are looked at (job_lookahead).
  std::deque<size_t> queue;
  size_t next = 0;  // the first request not yet queued
  const auto top_up = [&] {
    while (static_cast<int64_t>(queue.size()) < job_lookahead(rows) && next < job.size()) {
      check_request(job[next], next);
      queue.push_back(next++);
    }
  };
  top_up();
  while (!queue.empty()) {
    // A block starts: the first `rows` requests waiting, prefilled together at P tokens.
    std::vector<size_t> block;
    while (static_cast<int64_t>(block.size()) < rows && !queue.empty()) {
      block.push_back(queue.front());
      queue.pop_front();
      top_up();
    }
    int64_t prompt = kept;
    for (size_t i : block) prompt = std::max(prompt, job[i].prompt_len);
    finishing.assign(static_cast<size_t>(capacity), 0);
    int64_t live = 0;
    for (size_t i : block) {
      const int64_t g = job[i].gen_len;
      ALISA_CHECK(prompt + g - 1 <= capacity, "job schedule: request ", i, " (gen_len ", g,
                  ") does not fit a cache of ", capacity, " positions after a prefill of ", prompt,
                  " tokens");
      out.generated_tokens += g;
      if (g > 1) {
        ++live;
        ++finishing[static_cast<size_t>(prompt + g - 2)];
      }
    }
    out.steps.push_back({.prefill = true,
                         .write_index = prompt,
                         .live_rows = static_cast<int64_t>(block.size()),
                         .lane_prompts = {}});
    ++out.prefills;
    for (int64_t w = prompt;; ++w) {
      // After a step: each row without a sequence takes the first waiting request that fits.
      std::vector<int64_t> lanes;
      for (auto it = queue.begin(); shape.refill && live < rows && it != queue.end();) {
        const SequenceLengths& r = job[*it];
        if (r.prompt_len > w + 1 - kept || w + r.gen_len > capacity) {
          ++it;
          continue;
        }
        lanes.push_back(r.prompt_len);
        out.generated_tokens += r.gen_len;
        ++finishing[static_cast<size_t>(w + r.gen_len - 1)];
        ++live;
        it = queue.erase(it);
      }
      top_up();
      if (live == 0) break;  // the block is over
      out.lanes += static_cast<int64_t>(lanes.size());
      out.steps.push_back({.prefill = false,
                           .write_index = w,
                           .live_rows = live,
                           .lane_prompts = std::move(lanes)});
      ++out.decode_steps;
      out.slot_steps += rows;
      out.idle_slot_steps += rows - live;
      live -= finishing[static_cast<size_t>(w)];
    }
  }
  return out;
}

}  // namespace alisa
