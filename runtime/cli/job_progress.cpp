#include "runtime/cli/job_progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "runtime/base/common.h"

namespace alisa::cli {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  char text[32];
  std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return text;
}

JobProgress::JobProgress(int64_t total, double log_interval_s)
    : total_(total),
      log_interval_s_(log_interval_s),
      terminal_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

double JobProgress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string JobProgress::line(const JobCounts& counts) const {
  const int64_t done = counts.completed + counts.errors;
  const double elapsed = seconds();
  const double left =
      done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total_ - done) : NAN;
  return str(done, "/", total_, " prompts, ", counts.errors, " errors, ",
             static_cast<int64_t>(elapsed > 0 ? counts.tokens_out / elapsed : 0.0),
             " tok/s, elapsed ", format_duration(elapsed), ", ETA ", format_duration(left));
}

std::string JobProgress::bar(const JobCounts& counts) const {
  constexpr int64_t kWidth = 24;
  const int64_t done = counts.completed + counts.errors;
  const int64_t filled = total_ > 0 ? std::min(kWidth, done * kWidth / total_) : kWidth;
  return "[" + std::string(static_cast<size_t>(filled), '#') +
         std::string(static_cast<size_t>(kWidth - filled), '.') + "]";
}

void JobProgress::update(const JobCounts& counts) {
  const auto now = std::chrono::steady_clock::now();
  if (terminal_) {
    if (now - last_ < std::chrono::milliseconds(200)) return;
    std::fprintf(stderr, "\r%s %s   ", bar(counts).c_str(), line(counts).c_str());
  } else {
    if (log_interval_s_ <= 0 ||
        std::chrono::duration<double>(now - last_).count() < log_interval_s_)
      return;
    std::fprintf(stderr, "alisa: %s\n", line(counts).c_str());
  }
  std::fflush(stderr);
  last_ = now;
}

void JobProgress::finish(const JobCounts& counts) {
  if (terminal_) std::fprintf(stderr, "\r%s %s   \n", bar(counts).c_str(), line(counts).c_str());
}

}  // namespace alisa::cli
