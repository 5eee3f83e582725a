// Sparse Window Attention on the host side: parsing its options, allocating a batch's selection
// state (policy/swa_memory.h has the options and the state's sizes), and the per-step plan of
// every sequence (budget, score window ring rows), the same for all layers. The rules are
// ../shared/design/SWA.md's; the kernels (kernel_params.h) do the rest.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "policy/swa_memory.h"
#include "runtime/base/kernel_params.h"
#include "runtime/core/device.h"
#include "runtime/ops/ops.h"

namespace alisa {

// Throws alisa::Error naming `source` and the option when a value is out of range.
void validate(const SwaOptions& options, const std::string& source);
const char* swa_granularity_name(SwaGranularity granularity);
const char* swa_score_name(SwaScore score);
// "layer" | "head" and "window" | "decay" | "history" | "recent"; errors name `source`.
SwaGranularity parse_swa_granularity(const std::string& text, const std::string& source);
SwaScore parse_swa_score(const std::string& text, const std::string& source);

// One layer's persistent tensors (score, ring) on `device`; the Buffers go to `owner`. Zeroed
// by each prefill.
SwaState allocate_swa_layer(Device& device, const SwaOptions& options, const SwaShape& shape,
                            std::vector<Buffer>& owner);
// The scratch tensors (sequences, selected, probs) on `device`, set into `state`.
SwaState allocate_swa_scratch(Device& device, const SwaShape& shape, std::vector<Buffer>& owner);
// A layer's state with a batch's scratch.
SwaState with_scratch(const SwaState& layer, const SwaState& scratch);

// The per-sequence plan of each step: budgets and the score window's ring rows.
class SwaPlanner {
 public:
  SwaPlanner(const SwaOptions& options, int64_t n_sequences);

  // The step's SwaSequence per sequence, given each sequence's real tokens after the step and
  // the cache length after it. A step at an empty cache is the prefill (dense, initialises the
  // score); later steps add one token each.
  void plan(std::span<const int32_t> n_real, int64_t length, bool prefill,
            std::span<SwaSequence> out);
  // A prompt of n_real tokens ending at cache index length - 1 takes sequence `seq`'s place (a
  // refill): its cursor restarts, and the plan returned is the prompt's prefill.
  SwaSequence restart(size_t seq, int32_t n_real, int64_t length);

 private:
  struct Cursor {
    int64_t next_row = 0;       // rows written so far (prompt rows included)
    int64_t first_counted = 0;  // the oldest row still in the score
  };
  SwaSequence plan_sequence(Cursor& cursor, int32_t n, int64_t length, bool prefill);
  SwaOptions options_;
  std::vector<Cursor> cursors_;
};

}  // namespace alisa
