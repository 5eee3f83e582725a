// What `alisa generate` tells a person while a batch job runs: on a terminal a progress bar and
// line redrawn in place; otherwise (a log file) one line every --log-interval seconds. Both say
// prompts done of the total, errors, generated tok/s and the time left.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "runtime/jobs/batch_job.h"

namespace alisa::cli {

class JobProgress {
 public:
  // `total`: the lines this run has to write; log_interval_s 0: no log lines.
  JobProgress(int64_t total, double log_interval_s);
  void update(const JobCounts& counts);
  void finish(const JobCounts& counts);
  double seconds() const;

 private:
  std::string line(const JobCounts& counts) const;
  std::string bar(const JobCounts& counts) const;  // "[#####...]" for a terminal

  int64_t total_;
  double log_interval_s_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

// "1:02:03" (hours:minutes:seconds), "--" before anything is known.
std::string format_duration(double seconds);

}  // namespace alisa::cli
