// The workload `alisa plan --workload` describes: prompt and generation lengths (each a number
// or a distribution, policy/length_distribution.h), the job's sequences, and for a job of uneven
// lengths refill, the seed of its draws and optionally the cache's capacity.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "policy/length_distribution.h"

namespace alisa {

struct WorkloadSpec {
  LengthDistribution prompt_len;
  LengthDistribution gen_len;
  int64_t sequences = 0;       // 0: not given
  std::optional<bool> refill;  // refill=on|off
  uint64_t seed = 0;           // seed=N: of draw_job_lengths
  int64_t capacity = 0;        // capacity=N: cache positions per row (0: the plan chooses)
  // A job priced over its simulated schedule (a distribution, refill or capacity given), rather
  // than one block of equal sequences.
  bool is_job() const {
    return !prompt_len.fixed() || !gen_len.fixed() || refill.has_value() || capacity > 0;
  }
};

// "prompt_len=L,gen_len=L[,sequences=N][,refill=on|off][,seed=N][,capacity=N]", each L a
// length_distribution text (whose own parameters follow it after commas:
// "prompt_len=uniform:min=64,max=512,gen_len=lognormal:median=128,max=512,sequences=2000").
// A job (is_job) needs sequences. Throws alisa::Error naming `what` and the text.
WorkloadSpec parse_workload_spec(const std::string& text, const std::string& what);

}  // namespace alisa
