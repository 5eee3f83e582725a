// Distributions of prompt and generation lengths: a job whose sequences do not all have the same
// length, for the cost model's job prediction (policy/job_schedule.h) and bench's uneven
// workload. Draws are seeded and reproducible on every platform: std::mt19937_64 (its output is
// fixed by the standard) turned into integers and normals by the algorithms written here, never
// by std::*_distribution (whose outputs differ between standard libraries).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace alisa {

// Texts:
//   N                                           every length N
//   uniform:min=A,max=B                         integers A ... B, each as likely
//   lognormal:median=M,max=X[,sigma=S][,min=Y]  round(M exp(S z)), z standard normal, clamped to
//                                               [Y, X] (S 1.0, Y 1 by default): the median stays
//                                               M and the draws above X land on X, as answers cut
//                                               off by their max_tokens do
// Every length is at least 1.
struct LengthDistribution {
  enum class Kind { kFixed, kUniform, kLognormal };
  Kind kind = Kind::kFixed;
  int64_t min = 1;  // kFixed: min == max, the length
  int64_t max = 1;
  double median = 0;  // kLognormal
  double sigma = 1;   // kLognormal
  bool fixed() const { return kind == Kind::kFixed; }
};

inline constexpr double kDefaultLognormalSigma = 1.0;

// Throws alisa::Error naming `what` (e.g. "--workload gen_len") and the text when it is not one
// of the forms above, a number is malformed, min > max, a median outside [min, max] or sigma
// not positive.
LengthDistribution parse_length_distribution(const std::string& text, const std::string& what);
// The text parse_length_distribution reads back to the same distribution.
std::string length_distribution_text(const LengthDistribution& distribution);

// `n` lengths drawn from `distribution` by std::mt19937_64 seeded with `seed`.
std::vector<int64_t> draw_lengths(const LengthDistribution& distribution, int64_t n, uint64_t seed);

// The lengths of one sequence of a job.
struct SequenceLengths {
  int64_t prompt_len = 0;
  int64_t gen_len = 0;
  bool operator==(const SequenceLengths&) const = default;
};

// A job of `n` sequences, in job order: prompt lengths drawn with one stream and generation
// lengths with another, both derived from `seed`, so changing one distribution leaves the other's
// draws as they were.
std::vector<SequenceLengths> draw_job_lengths(const LengthDistribution& prompt_len,
                                              const LengthDistribution& gen_len, int64_t n,
                                              uint64_t seed);

// The job's longest prompt and longest generation (0 for an empty job).
SequenceLengths longest_lengths(const std::vector<SequenceLengths>& job);

}  // namespace alisa
