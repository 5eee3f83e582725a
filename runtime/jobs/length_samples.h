// A job's lengths from a file, for `alisa plan --workload-file`: the cost model's job
// prediction (policy/job_schedule.h) of a measured or expected mix instead of a distribution.
#pragma once

#include <filesystem>
#include <vector>

#include "policy/length_distribution.h"

namespace alisa {

// JSON Lines, one sequence a line, in job order: {"prompt_len": N, "gen_len": N}, or a batch
// job's own line with its prompt as token ids, {"prompt_ids": [..], "max_tokens": N} (its
// generation length is then its max_tokens; other keys are ignored). Blank lines are skipped.
// Throws alisa::Error naming the file and line of anything else (text prompts need the
// tokenizer: give their lengths) and for a file without sequences.
std::vector<SequenceLengths> read_length_samples(const std::filesystem::path& path);

}  // namespace alisa
