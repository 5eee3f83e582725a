#include "runtime/tiers/timeline.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <functional>
#include <utility>

#include "runtime/base/common.h"

namespace alisa {

namespace {

constexpr std::array<Lane, kNumLanes> kLanes = {
    Lane::kCompute,  Lane::kWeightsIn, Lane::kCacheIn,     Lane::kCacheOut,
    Lane::kDiskRead, Lane::kDiskWrite, Lane::kCpuAttention};
constexpr std::array<Link, kNumLinks> kLinks = {Link::kDiskToCpu, Link::kCpuToGpu, Link::kGpuToCpu,
                                                Link::kCpuToDisk};
constexpr size_t kRowTidStride = 100;  // extra rows of a lane in the trace: tid + 100 * row

static_assert(lane_index(Lane::kCpuAttention) + 1 == kNumLanes);
static_assert(link_index(Link::kCpuToDisk) + 1 == kNumLinks);

size_t checked_lane(Lane lane) {
  const size_t i = lane_index(lane);
  ALISA_ASSERT(i < kNumLanes, "timeline lane ", i, " out of range");
  return i;
}

size_t checked_link(Link link) {
  const size_t i = link_index(link);
  ALISA_ASSERT(i < kNumLinks, "timeline link ", i, " out of range");
  return i;
}

}  // namespace

const char* lane_name(Lane lane) {
  static constexpr const char* kNames[kNumLanes] = {"compute",
                                                    "weights in (CPU->GPU)",
                                                    "cache in (CPU->GPU)",
                                                    "cache out (GPU->CPU)",
                                                    "disk read (disk->CPU)",
                                                    "disk write (CPU->disk)",
                                                    "CPU attention"};
  return kNames[checked_lane(lane)];
}

const char* lane_key(Lane lane) {
  static constexpr const char* kKeys[kNumLanes] = {
      "compute", "weights_in", "cache_in", "cache_out", "disk_read", "disk_write", "cpu_attention"};
  return kKeys[checked_lane(lane)];
}

const char* link_name(Link link) {
  static constexpr const char* kNames[kNumLinks] = {"disk->CPU", "CPU->GPU", "GPU->CPU",
                                                    "CPU->disk"};
  return kNames[checked_link(link)];
}

const char* link_key(Link link) {
  static constexpr const char* kKeys[kNumLinks] = {"disk_to_cpu", "cpu_to_gpu", "gpu_to_cpu",
                                                   "cpu_to_disk"};
  return kKeys[checked_link(link)];
}

std::optional<Link> lane_link(Lane lane) {
  switch (lane) {
    case Lane::kWeightsIn:
    case Lane::kCacheIn:
      return Link::kCpuToGpu;
    case Lane::kCacheOut:
      return Link::kGpuToCpu;
    case Lane::kDiskRead:
      return Link::kDiskToCpu;
    case Lane::kDiskWrite:
      return Link::kCpuToDisk;
    case Lane::kCompute:
    case Lane::kCpuAttention:
      return std::nullopt;
  }
  ALISA_ASSERT(false, "timeline lane ", lane_index(lane), " out of range");
  return std::nullopt;
}

namespace {

// Helpers on sorted lists of disjoint intervals; templates so they take Timeline's private
// Interval.
template <typename Interval>
double length(const std::vector<Interval>& intervals) {
  double total = 0;
  for (const Interval& iv : intervals) total += iv.end - iv.start;
  return total;
}

template <typename Interval>
std::vector<Interval> union_of(const std::vector<const std::vector<Interval>*>& lists) {
  std::vector<Interval> all;
  for (const auto* list : lists) all.insert(all.end(), list->begin(), list->end());
  std::sort(all.begin(), all.end(),
            [](const Interval& a, const Interval& b) { return a.start < b.start; });
  std::vector<Interval> merged;
  for (const Interval& iv : all) {
    if (!merged.empty() && iv.start <= merged.back().end) {
      merged.back().end = std::max(merged.back().end, iv.end);
    } else {
      merged.push_back(iv);
    }
  }
  return merged;
}

// Length of the intersection of two lists, in one sweep.
template <typename Interval>
double intersection_length(const std::vector<Interval>& a, const std::vector<Interval>& b) {
  double total = 0;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const double lo = std::max(a[i].start, b[j].start);
    const double hi = std::min(a[i].end, b[j].end);
    if (hi > lo) total += hi - lo;
    if (a[i].end < b[j].end) {
      ++i;
    } else {
      ++j;
    }
  }
  return total;
}

}  // namespace

Timeline::Totals Timeline::measure(const LaneIntervals& lanes) {
  Totals totals;
  std::vector<const std::vector<Interval>*> transfer, compute;
  std::array<std::vector<const std::vector<Interval>*>, kNumLinks> per_link;
  for (Lane lane : kLanes) {
    const auto& list = lanes[lane_index(lane)];
    totals.busy_us[lane_index(lane)] = length(list);
    if (const auto link = lane_link(lane)) {
      transfer.push_back(&list);
      per_link[link_index(*link)].push_back(&list);
    } else {
      compute.push_back(&list);
    }
  }
  for (size_t k = 0; k < kNumLinks; ++k) totals.link_busy_us[k] = length(union_of(per_link[k]));
  const auto transfer_union = union_of(transfer);
  totals.transfer_us = length(transfer_union);
  totals.hidden_transfer_us = intersection_length(transfer_union, union_of(compute));
  return totals;
}

void Timeline::add(Span span) {
  ALISA_ASSERT(std::isfinite(span.start_us) && std::isfinite(span.end_us), "timeline span '",
               span.name, "' has a non-finite time");
  ALISA_ASSERT(span.end_us >= span.start_us, "timeline span '", span.name, "' ends (", span.end_us,
               " us) before it starts (", span.start_us, " us)");
  checked_lane(span.lane);

  std::lock_guard<std::mutex> lock(mutex_);
  ++span_count_;
  min_start_ = std::min(min_start_, span.start_us);
  max_end_ = std::max(max_end_, span.end_us);

  // The part before the horizon was folded away already: it cannot be merged exactly any more.
  const double start = std::max(span.start_us, horizon_);
  late_us_ += std::min(start, span.end_us) - span.start_us;
  if (span.end_us > start) insert_locked(span.lane, start, span.end_us);

  if (keep_spans_) spans_.push_back(std::move(span));
  if (live_count_ > kMaxLiveIntervals) retire_locked();
}

void Timeline::insert_locked(Lane lane, double start, double end) {
  auto& list = live_[lane_index(lane)];
  if (list.empty() || list.back().end < start) {  // the common case: work in time order
    list.push_back({start, end});
    ++live_count_;
    return;
  }
  // First interval that reaches start; every interval from there that starts by end merges.
  auto first = std::partition_point(list.begin(), list.end(),
                                    [&](const Interval& iv) { return iv.end < start; });
  auto last = first;
  while (last != list.end() && last->start <= end) ++last;
  if (first == last) {
    list.insert(first, {start, end});
    ++live_count_;
    return;
  }
  first->start = std::min(first->start, start);
  first->end = std::max(std::prev(last)->end, end);
  live_count_ -= static_cast<size_t>(last - first) - 1;
  list.erase(std::next(first), last);
}

void Timeline::retire_locked() {
  // Cut at the median end time: at least half of the intervals end by it and go.
  std::vector<double> ends;
  ends.reserve(live_count_);
  for (const auto& list : live_)
    for (const Interval& iv : list) ends.push_back(iv.end);
  auto mid = ends.begin() + static_cast<std::ptrdiff_t>(ends.size() / 2);
  std::nth_element(ends.begin(), mid, ends.end());
  const double cut = *mid;

  LaneIntervals retired;
  for (size_t l = 0; l < kNumLanes; ++l) {
    auto& list = live_[l];
    auto keep = std::partition_point(list.begin(), list.end(),
                                     [&](const Interval& iv) { return iv.end <= cut; });
    retired[l].assign(list.begin(), keep);
    if (keep != list.end() && keep->start < cut) {  // straddles the cut: split it
      retired[l].push_back({keep->start, cut});
      keep->start = cut;
    }
    live_count_ -= static_cast<size_t>(keep - list.begin());
    list.erase(list.begin(), keep);
  }
  const Totals totals = measure(retired);
  for (size_t l = 0; l < kNumLanes; ++l) retired_.busy_us[l] += totals.busy_us[l];
  for (size_t k = 0; k < kNumLinks; ++k) retired_.link_busy_us[k] += totals.link_busy_us[k];
  retired_.transfer_us += totals.transfer_us;
  retired_.hidden_transfer_us += totals.hidden_transfer_us;
  horizon_ = std::max(horizon_, cut);
}

void Timeline::count_bytes(Link link, uint64_t n) {
  const size_t k = checked_link(link);
  std::lock_guard<std::mutex> lock(mutex_);
  link_bytes_[k] += n;
}

void Timeline::set_keep_spans(bool keep) {
  std::lock_guard<std::mutex> lock(mutex_);
  keep_spans_ = keep;
}

Timeline::Stats Timeline::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  const Totals live = measure(live_);
  Stats s;
  for (size_t l = 0; l < kNumLanes; ++l) s.busy_us[l] = retired_.busy_us[l] + live.busy_us[l];
  for (size_t k = 0; k < kNumLinks; ++k) {
    s.link_busy_us[k] = retired_.link_busy_us[k] + live.link_busy_us[k];
  }
  s.link_bytes = link_bytes_;
  s.transfer_us = retired_.transfer_us + live.transfer_us;
  s.hidden_transfer_us = retired_.hidden_transfer_us + live.hidden_transfer_us;
  s.hidden_fraction = s.transfer_us > 0 ? s.hidden_transfer_us / s.transfer_us : 1.0;
  s.wall_us = span_count_ > 0 ? max_end_ - min_start_ : 0.0;
  s.late_us = late_us_;
  s.spans = span_count_;
  return s;
}

nlohmann::json Timeline::stats_json() const {
  const Stats s = stats();
  nlohmann::json lanes = nlohmann::json::object();
  for (Lane lane : kLanes) {
    lanes[lane_key(lane)] = {{"name", lane_name(lane)},
                             {"busy_s", s.busy_us[lane_index(lane)] * 1e-6}};
  }
  nlohmann::json links = nlohmann::json::object();
  for (Link link : kLinks) {
    const size_t k = link_index(link);
    const double busy_s = s.link_busy_us[k] * 1e-6;
    nlohmann::json gb_per_s = nullptr;
    if (busy_s > 0) gb_per_s = static_cast<double>(s.link_bytes[k]) / busy_s * 1e-9;
    links[link_key(link)] = {{"name", link_name(link)},
                             {"bytes", s.link_bytes[k]},
                             {"busy_s", busy_s},
                             {"gb_per_s", gb_per_s}};
  }
  return {{"wall_s", s.wall_us * 1e-6},
          {"transfer_s", s.transfer_us * 1e-6},
          {"hidden_transfer_s", s.hidden_transfer_us * 1e-6},
          {"hidden_fraction", s.hidden_fraction},
          {"late_s", s.late_us * 1e-6},
          {"spans", s.spans},
          {"lanes", std::move(lanes)},
          {"links", std::move(links)}};
}

void Timeline::trace_events(const std::function<void(nlohmann::json)>& emit) const {
  std::vector<Span> spans;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    spans = spans_;  // a copy, so adders are not held up while the trace is built
  }
  std::stable_sort(spans.begin(), spans.end(),
                   [](const Span& a, const Span& b) { return a.start_us < b.start_us; });

  emit({{"name", "process_name"}, {"ph", "M"}, {"pid", 1}, {"args", {{"name", "alisa"}}}});
  auto name_row = [&](Lane lane, size_t row) {
    const size_t tid = lane_index(lane) + kRowTidStride * row;
    std::string name = lane_name(lane);
    if (row > 0) name += str(" #", row + 1);
    emit({{"name", "thread_name"},
          {"ph", "M"},
          {"pid", 1},
          {"tid", tid},
          {"args", {{"name", name}}}});
    // Rows of one lane sit together, lanes in their enum order.
    emit({{"name", "thread_sort_index"},
          {"ph", "M"},
          {"pid", 1},
          {"tid", tid},
          {"args", {{"sort_index", lane_index(lane) * kRowTidStride + row}}}});
  };

  // Per lane, a span goes on the lowest row whose last span has ended by its start (greedy
  // interval partitioning: as few rows as the most spans overlapping at once).
  std::array<std::vector<double>, kNumLanes> row_end;
  for (Lane lane : kLanes) name_row(lane, 0);
  for (const Span& span : spans) {
    auto& ends = row_end[lane_index(span.lane)];
    size_t row = 0;
    while (row < ends.size() && ends[row] > span.start_us) ++row;
    if (row == ends.size()) {
      ends.push_back(span.end_us);
      if (row > 0) name_row(span.lane, row);
    } else {
      ends[row] = span.end_us;
    }
    nlohmann::json args = {{"bytes", span.bytes}};
    if (span.link) args["link"] = link_name(*span.link);
    emit({{"name", span.name},
          {"cat", lane_key(span.lane)},
          {"ph", "X"},
          {"ts", span.start_us},
          {"dur", span.end_us - span.start_us},
          {"pid", 1},
          {"tid", lane_index(span.lane) + kRowTidStride * row},
          {"args", std::move(args)}});
  }
}

nlohmann::json Timeline::chrome_trace() const {
  nlohmann::json events = nlohmann::json::array();
  trace_events([&](nlohmann::json event) { events.push_back(std::move(event)); });
  return {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}};
}

void Timeline::write_chrome_trace(const std::filesystem::path& path) const {
  // Streamed event by event: a long run's trace never exists as one JSON tree.
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(str("cannot write trace file ", path.string(), ": ", errno_text(errno)));
  out << "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[";
  bool first = true;
  trace_events([&](nlohmann::json event) {
    out << (first ? "\n" : ",\n")
        << event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    first = false;
  });
  out << "\n]}\n";
  out.close();
  if (!out) throw Error(str("cannot write trace file ", path.string(), ": ", errno_text(errno)));
}

void Timeline::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  spans_.clear();
  spans_.shrink_to_fit();
  for (auto& list : live_) {
    list.clear();
    list.shrink_to_fit();
  }
  live_count_ = 0;
  retired_ = Totals{};
  link_bytes_ = {};
  late_us_ = 0;
  span_count_ = 0;
  horizon_ = -std::numeric_limits<double>::infinity();
  min_start_ = std::numeric_limits<double>::infinity();
  max_end_ = -std::numeric_limits<double>::infinity();
}

size_t Timeline::live_intervals() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return live_count_;
}

}  // namespace alisa
