// The schedule's measurements: timed spans per lane (compute, transfers, disk I/O, CPU attention)
// and bytes per link, summarised as busy times and the share of transfer time hidden behind
// compute, and exported as a Chrome trace. Pure host code: the caller converts CUDA event times
// into microseconds from a common origin.
//
// Definitions (all times in microseconds, all unions as measures of sets of time):
// - busy time of a lane: length of the union of its spans (spans of one lane may overlap, e.g.
//   several disk workers);
// - busy time of a link: length of the union of the lanes that carry it (CPU->GPU: weights in
//   and cache in; the others have one lane each);
// - transfer time: length of the union of all spans on transfer lanes (weights in, cache in,
//   cache out, disk read, disk write);
// - hidden transfer time: length of (union of transfer spans) ∩ (union of compute spans, i.e.
//   the compute and CPU attention lanes);
// - hidden fraction: hidden / transfer, 1.0 when there is no transfer;
// - wall time: latest end - earliest start over all spans (0 with no spans).
//
// Memory stays bounded however long the run: each lane keeps its spans as a sorted list of
// disjoint intervals, merged on insertion (touching spans merge, so back-to-back work is one
// interval). When the lanes together hold more than kMaxLiveIntervals intervals, the older half
// (everything before a cut time) is folded into running totals and dropped; the cut becomes the
// horizon. Totals stay exact as long as no span starts before the horizon; the part of a span
// that does (it would arrive thousands of intervals late) is left out of the unions and reported
// as Stats::late_us, so an inexact result is never silent. Wall time and bytes are always exact.
// Raw spans are kept only after set_keep_spans(true), for the trace; that list grows with the run.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace alisa {

enum class Lane : uint8_t {
  kCompute,
  kWeightsIn,
  kCacheIn,
  kCacheOut,
  kDiskRead,
  kDiskWrite,
  kCpuAttention
};
inline constexpr size_t kNumLanes = 7;

enum class Link : uint8_t { kDiskToCpu, kCpuToGpu, kGpuToCpu, kCpuToDisk };
inline constexpr size_t kNumLinks = 4;

inline constexpr size_t lane_index(Lane lane) {
  return static_cast<size_t>(lane);
}
inline constexpr size_t link_index(Link link) {
  return static_cast<size_t>(link);
}

const char* lane_name(Lane lane);  // "compute", "weights in (CPU->GPU)", ...: for people
const char* lane_key(Lane lane);   // "compute", "weights_in", ...: JSON keys
const char* link_name(Link link);  // "disk->CPU", "CPU->GPU", "GPU->CPU", "CPU->disk"
const char* link_key(Link link);   // "disk_to_cpu", "cpu_to_gpu", ...

std::optional<Link> lane_link(Lane lane);  // the link a transfer lane carries; none for compute

// Defaults on every member, so designated initializers may leave any of them out.
struct Span {
  Lane lane = Lane::kCompute;
  std::string name = {};
  double start_us = 0;
  double end_us = 0;
  uint64_t bytes = 0;                       // a trace argument; link totals come from count_bytes
  std::optional<Link> link = std::nullopt;  // for transfer spans: a trace argument
};

class Timeline {
 public:
  // Live intervals (all lanes together) above which the older half is folded into totals.
  static constexpr size_t kMaxLiveIntervals = size_t{1} << 14;

  struct Stats {
    std::array<double, kNumLanes> busy_us{};       // union of each lane's spans
    std::array<uint64_t, kNumLinks> link_bytes{};  // sums of count_bytes
    std::array<double, kNumLinks> link_busy_us{};  // union of the lanes carrying each link
    double transfer_us = 0;
    double hidden_transfer_us = 0;
    double hidden_fraction = 1.0;
    double wall_us = 0;
    double late_us = 0;  // span time before the horizon, left out of the unions (normally 0)
    uint64_t spans = 0;  // spans added since construction or clear()
  };

  // Thread-safe (one mutex), as disk workers add spans too. Throws alisa::InternalError on a
  // non-finite time or an end before the start.
  void add(Span span);
  // Bytes moved over a link: the only source of link_bytes (a span's bytes only label the trace),
  // so every move is counted once, traced or not. Thread-safe.
  void count_bytes(Link link, uint64_t n);
  // Spans are kept for chrome_trace() only while this is on (off by default); stats always work.
  // Turning it off keeps the spans already kept.
  void set_keep_spans(bool keep);

  Stats stats() const;
  // {"wall_s", "transfer_s", "hidden_transfer_s", "hidden_fraction", "late_s", "spans",
  //  "lanes": {key: {"name", "busy_s"}}, "links": {key: {"name", "bytes", "busy_s", "gb_per_s"}}};
  // gb_per_s (1e9 bytes/s over the link's busy time) is null when the link was never busy.
  nlohmann::json stats_json() const;
  // {"traceEvents": [...]} for chrome://tracing and Perfetto: an "X" event per kept span (ts and
  // dur in microseconds, pid 1, tid = lane_index(lane), args {"bytes"[, "link"]}) and "M"
  // thread_name and thread_sort_index events naming every lane. Viewers require the slices of one
  // thread to nest, so spans that overlap without nesting go on extra rows of their lane (tid =
  // lane_index(lane) + 100 * row, named "<lane> #<row + 1>").
  nlohmann::json chrome_trace() const;
  // Throws alisa::Error naming the path when the file cannot be written.
  void write_chrome_trace(const std::filesystem::path& path) const;
  // Forgets spans, intervals, totals and bytes; keeps the keep_spans setting.
  void clear();

  size_t live_intervals() const;  // intervals held now (all lanes): the memory bound, for tests

 private:
  struct Interval {
    double start;
    double end;
  };
  using LaneIntervals = std::array<std::vector<Interval>, kNumLanes>;
  struct Totals {  // the unions' lengths over some set of intervals
    std::array<double, kNumLanes> busy_us{};
    std::array<double, kNumLinks> link_busy_us{};
    double transfer_us = 0;
    double hidden_transfer_us = 0;
  };
  static Totals measure(const LaneIntervals& lanes);

  // Calls emit with each trace event in turn (metadata first, then spans by start time).
  void trace_events(const std::function<void(nlohmann::json)>& emit) const;
  void insert_locked(Lane lane, double start, double end);
  void retire_locked();

  mutable std::mutex mutex_;
  bool keep_spans_ = false;
  std::vector<Span> spans_;
  LaneIntervals live_;
  size_t live_count_ = 0;
  Totals retired_;  // of the intervals folded away, all before the horizon
  std::array<uint64_t, kNumLinks> link_bytes_{};
  double late_us_ = 0;
  uint64_t span_count_ = 0;
  double horizon_ = -std::numeric_limits<double>::infinity();
  double min_start_ = std::numeric_limits<double>::infinity();
  double max_end_ = -std::numeric_limits<double>::infinity();
};

}  // namespace alisa
