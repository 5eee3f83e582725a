// Timeline: interval unions per lane, hidden transfer time, bytes per link, the Chrome trace,
// concurrent adds, and memory that stays bounded over a million spans. Times are whole
// microseconds, so every expected value is exact in double.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "runtime/base/common.h"
#include "runtime/tiers/timeline.h"
#include "tests/test_support.h"

using alisa::Lane;
using alisa::lane_index;
using alisa::Link;
using alisa::link_index;
using alisa::Span;
using alisa::Timeline;
using Catch::Contains;
using Json = nlohmann::json;

namespace {

void add(Timeline& t, Lane lane, double start, double end, uint64_t bytes = 0) {
  t.add({.lane = lane, .name = "s", .start_us = start, .end_us = end, .bytes = bytes});
}

double busy(const Timeline::Stats& s, Lane lane) {
  return s.busy_us[lane_index(lane)];
}

}  // namespace

TEST_CASE("busy time is the union of a lane's spans", "[timeline]") {
  Timeline t;
  add(t, Lane::kDiskRead, 0, 10);
  add(t, Lane::kDiskRead, 5, 15);  // overlaps: [0, 15]
  add(t, Lane::kDiskRead, 20, 30);
  add(t, Lane::kDiskRead, 22, 25);  // nested
  add(t, Lane::kDiskRead, 40, 41);  // disjoint
  add(t, Lane::kDiskRead, 41, 45);  // touching: merges
  CHECK(busy(t.stats(), Lane::kDiskRead) == 15 + 10 + 5);
  CHECK(t.live_intervals() == 3);

  // Out of order: one span bridging three intervals merges them into one.
  add(t, Lane::kDiskRead, 100, 110);
  add(t, Lane::kDiskRead, 140, 150);
  add(t, Lane::kDiskRead, 120, 130);
  CHECK(t.live_intervals() == 6);
  add(t, Lane::kDiskRead, 105, 145);
  CHECK(t.live_intervals() == 4);
  add(t, Lane::kDiskRead, 50, 60);  // before the others, disjoint
  add(t, Lane::kDiskRead, 7, 7);    // empty: no time, still a span
  const auto s = t.stats();
  CHECK(busy(s, Lane::kDiskRead) == 30 + 50 + 10);
  CHECK(s.transfer_us == 90);
  CHECK(s.wall_us == 150);
  CHECK(s.spans == 12);
  CHECK(s.late_us == 0);
  CHECK(busy(s, Lane::kCompute) == 0);
}

TEST_CASE("hidden fraction for hand-computed overlaps", "[timeline]") {
  SECTION("transfer inside compute is fully hidden") {
    Timeline t;
    add(t, Lane::kCompute, 0, 100);
    add(t, Lane::kWeightsIn, 10, 50);
    add(t, Lane::kCacheIn, 30, 60);
    const auto s = t.stats();
    CHECK(s.transfer_us == 50);
    CHECK(s.hidden_transfer_us == 50);
    CHECK(s.hidden_fraction == 1.0);
  }
  SECTION("transfer beside compute is not hidden") {
    Timeline t;
    add(t, Lane::kCompute, 0, 10);
    add(t, Lane::kWeightsIn, 10, 30);  // touching is not overlapping
    const auto s = t.stats();
    CHECK(s.transfer_us == 20);
    CHECK(s.hidden_transfer_us == 0);
    CHECK(s.hidden_fraction == 0.0);
  }
  SECTION("partial overlap, compute on both compute lanes") {
    Timeline t;
    add(t, Lane::kCompute, 0, 50);
    add(t, Lane::kCpuAttention, 60, 80);
    add(t, Lane::kWeightsIn, 40, 70);
    add(t, Lane::kCacheOut, 65, 90);
    add(t, Lane::kDiskRead, 100, 110);
    // Transfer union [40, 90] + [100, 110] = 60; compute union [0, 50] + [60, 80];
    // intersection [40, 50] + [60, 80] = 30.
    const auto s = t.stats();
    CHECK(s.transfer_us == 60);
    CHECK(s.hidden_transfer_us == 30);
    CHECK(s.hidden_fraction == 0.5);
    CHECK(s.wall_us == 110);
  }
  SECTION("no transfer counts as fully hidden") {
    Timeline t;
    CHECK(t.stats().hidden_fraction == 1.0);
    CHECK(t.stats().wall_us == 0);
    add(t, Lane::kCompute, 5, 9);
    CHECK(t.stats().hidden_fraction == 1.0);
    CHECK(t.stats().wall_us == 4);
  }
}

TEST_CASE("each lane keeps its own union; CPU->GPU is busy over both of its lanes", "[timeline]") {
  Timeline t;
  add(t, Lane::kCompute, 0, 40);
  add(t, Lane::kWeightsIn, 0, 20);
  add(t, Lane::kCacheIn, 10, 30);
  add(t, Lane::kCacheOut, 50, 55);
  add(t, Lane::kDiskRead, -10, 0);
  add(t, Lane::kDiskWrite, 60, 70);
  add(t, Lane::kCpuAttention, 35, 45);
  const auto s = t.stats();
  CHECK(busy(s, Lane::kCompute) == 40);
  CHECK(busy(s, Lane::kWeightsIn) == 20);
  CHECK(busy(s, Lane::kCacheIn) == 20);
  CHECK(busy(s, Lane::kCacheOut) == 5);
  CHECK(busy(s, Lane::kDiskRead) == 10);
  CHECK(busy(s, Lane::kDiskWrite) == 10);
  CHECK(busy(s, Lane::kCpuAttention) == 10);
  CHECK(s.link_busy_us[link_index(Link::kCpuToGpu)] == 30);
  CHECK(s.link_busy_us[link_index(Link::kGpuToCpu)] == 5);
  CHECK(s.link_busy_us[link_index(Link::kDiskToCpu)] == 10);
  CHECK(s.link_busy_us[link_index(Link::kCpuToDisk)] == 10);
  CHECK(s.transfer_us == 30 + 5 + 10 + 10);
  CHECK(s.hidden_transfer_us == 30);  // [0, 30] under compute; [-10, 0] touches only
  CHECK(s.wall_us == 80);
}

TEST_CASE("bytes per link come from count_bytes, with GB/s over the link's busy time",
          "[timeline]") {
  Timeline t;
  t.count_bytes(Link::kCpuToGpu, 1'500'000'000);
  t.count_bytes(Link::kCpuToGpu, 500'000'000);
  t.count_bytes(Link::kCpuToDisk, 7);
  // A span's bytes label the trace only: the move was counted above.
  t.add({.lane = Lane::kWeightsIn,
         .name = "w",
         .start_us = 0,
         .end_us = 500'000,
         .bytes = 1'000'000'000,
         .link = Link::kCpuToGpu});
  add(t, Lane::kCacheIn, 250'000, 1'000'000, 1'000'000'000);
  const auto s = t.stats();
  CHECK(s.link_bytes[link_index(Link::kCpuToGpu)] == 2'000'000'000);
  CHECK(s.link_bytes[link_index(Link::kCpuToDisk)] == 7);
  CHECK(s.link_bytes[link_index(Link::kDiskToCpu)] == 0);

  const Json j = t.stats_json();
  const Json& h2d = j.at("links").at("cpu_to_gpu");
  CHECK(h2d.at("name") == "CPU->GPU");
  CHECK(h2d.at("bytes") == 2'000'000'000);
  CHECK(h2d.at("busy_s") == Approx(1.0));
  CHECK(h2d.at("gb_per_s") == Approx(2.0));
  CHECK(j.at("links").at("cpu_to_disk").at("gb_per_s").is_null());  // bytes, never busy
  CHECK(j.at("lanes").at("weights_in").at("name") == "weights in (CPU->GPU)");
  CHECK(j.at("lanes").at("weights_in").at("busy_s") == Approx(0.5));
  CHECK(j.at("lanes").at("cache_in").at("busy_s") == Approx(0.75));
  CHECK(j.at("lanes").size() == alisa::kNumLanes);
  CHECK(j.at("links").size() == alisa::kNumLinks);
  CHECK(j.at("wall_s") == Approx(1.0));
  CHECK(j.at("transfer_s") == Approx(1.0));
  CHECK(j.at("hidden_transfer_s") == 0.0);
  CHECK(j.at("hidden_fraction") == 0.0);
  CHECK(j.at("late_s") == 0.0);
  CHECK(j.at("spans") == 2);
}

TEST_CASE("the Chrome trace names every lane and holds the kept spans", "[timeline]") {
  Timeline t;
  add(t, Lane::kCompute, 0, 5);  // not kept: keep_spans is off by default
  CHECK(t.chrome_trace().at("traceEvents").size() == 1 + 2 * alisa::kNumLanes);

  t.set_keep_spans(true);
  t.add({.lane = Lane::kWeightsIn,
         .name = "layer 3 weights",
         .start_us = 10.5,
         .end_us = 20,
         .bytes = 4096,
         .link = Link::kCpuToGpu});
  add(t, Lane::kCompute, 12, 18);
  // Three disk workers: two overlap without nesting, the third starts after the first ended.
  add(t, Lane::kDiskRead, 0, 10, 1);
  add(t, Lane::kDiskRead, 5, 15, 2);
  add(t, Lane::kDiskRead, 10, 12, 3);

  // Through text, as a viewer reads it.
  const Json trace = Json::parse(t.chrome_trace().dump());
  REQUIRE(trace.at("traceEvents").is_array());
  std::map<int64_t, std::string> thread_names;
  std::vector<Json> spans;
  for (const Json& e : trace.at("traceEvents")) {
    REQUIRE(e.contains("ph"));
    CHECK(e.at("pid") == 1);
    if (e.at("ph") == "M" && e.at("name") == "thread_name") {
      thread_names[e.at("tid").get<int64_t>()] = e.at("args").at("name").get<std::string>();
    } else if (e.at("ph") == "X") {
      spans.push_back(e);
    }
  }
  CHECK(thread_names.size() == alisa::kNumLanes + 1);
  CHECK(thread_names.at(0) == "compute");
  CHECK(thread_names.at(1) == "weights in (CPU->GPU)");
  CHECK(thread_names.at(4) == "disk read (disk->CPU)");
  CHECK(thread_names.at(6) == "CPU attention");
  CHECK(thread_names.at(104) == "disk read (disk->CPU) #2");

  REQUIRE(spans.size() == 5);  // sorted by start
  const Json& w = spans[3];
  CHECK(w.at("name") == "layer 3 weights");
  CHECK(w.at("cat") == "weights_in");
  CHECK(w.at("ts") == 10.5);
  CHECK(w.at("dur") == 9.5);
  CHECK(w.at("tid") == lane_index(Lane::kWeightsIn));
  CHECK(w.at("args").at("bytes") == 4096);
  CHECK(w.at("args").at("link") == "CPU->GPU");
  std::map<uint64_t, int64_t> disk_tid;  // bytes -> tid
  for (const Json& e : spans) {
    CHECK(e.at("args").contains("bytes"));
    if (e.at("cat") == "disk_read") disk_tid[e.at("args").at("bytes")] = e.at("tid");
  }
  CHECK(disk_tid.at(1) == 4);
  CHECK(disk_tid.at(2) == 104);
  CHECK(disk_tid.at(3) == 4);

  // The stats saw the unkept span too.
  CHECK(busy(t.stats(), Lane::kCompute) == 11);
}

TEST_CASE("write_chrome_trace writes the trace and names the path on failure", "[timeline]") {
  alisa::test::ScratchDir dir;
  Timeline t;
  t.set_keep_spans(true);
  add(t, Lane::kCompute, 0, 1);
  t.add({.lane = Lane::kCacheOut, .name = "bad \xff utf-8", .start_us = 1, .end_us = 2});
  t.write_chrome_trace(dir / "trace.json");
  const Json back = Json::parse(alisa::test::read_text(dir / "trace.json"));
  CHECK(back.at("displayTimeUnit") == "ms");
  CHECK(back.at("traceEvents").size() == 1 + 2 * alisa::kNumLanes + 2);
  CHECK(back.at("traceEvents").back().at("name") == "bad \xEF\xBF\xBD utf-8");  // U+FFFD
  CHECK(back == Json::parse(t.chrome_trace().dump(-1, ' ', false, Json::error_handler_t::replace)));

  const std::string bad = (dir / "missing" / "trace.json").string();
  REQUIRE_THROWS_AS(t.write_chrome_trace(bad), alisa::Error);
  REQUIRE_THROWS_WITH(t.write_chrome_trace(bad), Contains(bad));
}

TEST_CASE("a bad span is an internal error; clear forgets everything", "[timeline]") {
  Timeline t;
  REQUIRE_THROWS_AS(add(t, Lane::kCompute, 5, 4), alisa::InternalError);
  REQUIRE_THROWS_AS(add(t, Lane::kCompute, 0, std::numeric_limits<double>::infinity()),
                    alisa::InternalError);
  CHECK(t.stats().spans == 0);

  t.set_keep_spans(true);
  add(t, Lane::kCompute, 0, 5);
  t.count_bytes(Link::kGpuToCpu, 9);
  t.clear();
  const auto s = t.stats();
  CHECK(s.spans == 0);
  CHECK(s.wall_us == 0);
  CHECK(busy(s, Lane::kCompute) == 0);
  CHECK(s.link_bytes[link_index(Link::kGpuToCpu)] == 0);
  CHECK(t.live_intervals() == 0);
  add(t, Lane::kCompute, 100, 101);  // still kept after clear
  CHECK(t.chrome_trace().at("traceEvents").size() == 1 + 2 * alisa::kNumLanes + 1);
  CHECK(t.stats().wall_us == 1);
}

TEST_CASE("spans and bytes from several threads all count", "[timeline]") {
  Timeline t;
  t.set_keep_spans(true);
  constexpr int kThreads = 8, kSpans = 5000;
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&t, w] {
      for (int i = 0; i < kSpans; ++i) {
        // Worker w reads [10 i + w, 10 i + w + 3]: the workers overlap, union [10 i, 10 i + 10].
        const double start = 10.0 * i + w;
        add(t, Lane::kDiskRead, start, start + 3, 1);
        t.count_bytes(Link::kDiskToCpu, 1);
        if (w == 0) add(t, Lane::kCompute, 10.0 * i, 10.0 * i + 5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto s = t.stats();
  CHECK(s.spans == kThreads * kSpans + kSpans);
  CHECK(busy(s, Lane::kDiskRead) == 10.0 * kSpans);
  CHECK(busy(s, Lane::kCompute) == 5.0 * kSpans);
  CHECK(s.hidden_transfer_us == 5.0 * kSpans);
  CHECK(s.link_bytes[link_index(Link::kDiskToCpu)] == kThreads * kSpans);
  CHECK(s.late_us == 0);
  CHECK(t.chrome_trace().at("traceEvents").size() > kThreads * kSpans);
}

TEST_CASE("memory stays bounded over a million spans and the totals stay exact", "[timeline]") {
  SECTION("back-to-back spans merge into one interval") {
    Timeline t;
    for (int i = 0; i < 1'000'000; ++i) add(t, Lane::kCompute, i, i + 1);
    CHECK(t.live_intervals() == 1);
    const auto s = t.stats();
    CHECK(busy(s, Lane::kCompute) == 1e6);
    CHECK(s.wall_us == 1e6);
    CHECK(s.spans == 1'000'000);
  }
  SECTION("spans with gaps are folded into totals past the cap") {
    Timeline t;
    constexpr int kSteps = 500'000;  // a million spans, none merging
    for (int i = 0; i < kSteps; ++i) {
      // Compute [10 i, 10 i + 6], weights [10 i + 4, 10 i + 9]: 2 us of each 5 hidden.
      add(t, Lane::kCompute, 10.0 * i, 10.0 * i + 6);
      add(t, Lane::kWeightsIn, 10.0 * i + 4, 10.0 * i + 9);
      REQUIRE(t.live_intervals() <= Timeline::kMaxLiveIntervals);
    }
    auto s = t.stats();
    CHECK(busy(s, Lane::kCompute) == 6.0 * kSteps);
    CHECK(busy(s, Lane::kWeightsIn) == 5.0 * kSteps);
    CHECK(s.link_busy_us[link_index(Link::kCpuToGpu)] == 5.0 * kSteps);
    CHECK(s.transfer_us == 5.0 * kSteps);
    CHECK(s.hidden_transfer_us == 2.0 * kSteps);
    CHECK(s.hidden_fraction == 0.4);
    CHECK(s.wall_us == 10.0 * kSteps - 1);
    CHECK(s.late_us == 0);

    // A span from long ago cannot be merged any more: its time is reported, not guessed.
    add(t, Lane::kCacheOut, 0, 3);
    s = t.stats();
    CHECK(s.late_us == 3);
    CHECK(busy(s, Lane::kCacheOut) == 0);
    CHECK(s.transfer_us == 5.0 * kSteps);
    CHECK(s.spans == 2 * kSteps + 1);
  }
}
