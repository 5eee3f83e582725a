#include "policy/job_schedule.h"

#include <algorithm>

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
  size_t next = 0;  // the FIFO head
  while (next < job.size()) {
    // A block starts: up to `rows` requests, prefilled together at P tokens.
    const size_t first = next;
    const size_t last = std::min(job.size(), first + static_cast<size_t>(rows));
    int64_t prompt = kept;
    for (size_t i = first; i < last; ++i) {
      check_request(job[i], i);
      prompt = std::max(prompt, job[i].prompt_len);
    }
    finishing.assign(static_cast<size_t>(capacity), 0);
    int64_t live = 0;
    for (size_t i = first; i < last; ++i) {
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
                         .live_rows = static_cast<int64_t>(last - first),
                         .lane_prompts = {}});
    ++out.prefills;
    next = last;
    for (int64_t w = prompt;; ++w) {
      // After a step: the rows without a sequence take the FIFO head while it fits.
      std::vector<int64_t> lanes;
      while (shape.refill && live < rows && next < job.size()) {
        const SequenceLengths& head = job[next];
        check_request(head, next);
        if (head.prompt_len > w + 1 - kept || w + head.gen_len > capacity) break;
        lanes.push_back(head.prompt_len);
        out.generated_tokens += head.gen_len;
        ++finishing[static_cast<size_t>(w + head.gen_len - 1)];
        ++live;
        ++next;
      }
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
