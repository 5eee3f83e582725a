#include <catch2/catch.hpp>
#include <cstdint>
#include <numeric>
#include <vector>

#include "policy/job_schedule.h"
#include "runtime/base/common.h"

namespace alisa {
namespace {

std::vector<int64_t> write_indices(const JobSchedule& s, bool prefill) {
  std::vector<int64_t> out;
  for (const JobStep& step : s.steps) {
    if (step.prefill == prefill) out.push_back(step.write_index);
  }
  return out;
}

std::vector<int64_t> live_rows(const JobSchedule& s) {
  std::vector<int64_t> out;
  for (const JobStep& step : s.steps) {
    if (!step.prefill) out.push_back(step.live_rows);
  }
  return out;
}

}  // namespace

TEST_CASE("job schedule: two rows without refill, by hand", "[job_schedule]") {
  // Block 1: (3, 4) and (5, 2) prefilled at 5; the second finishes after the step at 5, the first
  // after those at 5, 6, 7. Block 2: (2, 3) and (4, 1) at 4; the second finishes with the prefill,
  // the first after the steps at 4 and 5.
  const std::vector<SequenceLengths> job = {{3, 4}, {5, 2}, {2, 3}, {4, 1}};
  const JobSchedule s = simulate_job(job, {.rows = 2, .capacity = 10, .kept = 0, .refill = false});
  CHECK(write_indices(s, true) == std::vector<int64_t>{5, 4});
  CHECK(write_indices(s, false) == std::vector<int64_t>{5, 6, 7, 4, 5});
  CHECK(live_rows(s) == std::vector<int64_t>{2, 1, 1, 1, 1});
  CHECK(s.prefills == 2);
  CHECK(s.decode_steps == 5);
  CHECK(s.slot_steps == 10);
  CHECK(s.idle_slot_steps == 4);
  CHECK(s.idle_share() == Approx(0.4));
  CHECK(s.lanes == 0);
  CHECK(s.generated_tokens == 10);
}

TEST_CASE("job schedule: the same job with refill, by hand", "[job_schedule]") {
  // After the step at 5, (5, 2)'s row takes (2, 3): a lane of the step at 6, written at [5, 7),
  // finishing after the step at 8. After the step at 7, (3, 4)'s row takes (4, 1), a lane of the
  // step at 8 that finishes with it.
  const std::vector<SequenceLengths> job = {{3, 4}, {5, 2}, {2, 3}, {4, 1}};
  const JobSchedule s = simulate_job(job, {.rows = 2, .capacity = 10, .kept = 0, .refill = true});
  CHECK(write_indices(s, true) == std::vector<int64_t>{5});
  CHECK(write_indices(s, false) == std::vector<int64_t>{5, 6, 7, 8});
  CHECK(live_rows(s) == std::vector<int64_t>{2, 2, 2, 2});
  REQUIRE(s.steps.size() == 5);
  CHECK(s.steps[1].lane_prompts.empty());
  CHECK(s.steps[2].lane_prompts == std::vector<int64_t>{2});
  CHECK(s.steps[3].lane_prompts.empty());
  CHECK(s.steps[4].lane_prompts == std::vector<int64_t>{4});
  CHECK(s.prefills == 1);
  CHECK(s.decode_steps == 4);
  CHECK(s.idle_slot_steps == 0);
  CHECK(s.lanes == 2);
  CHECK(s.generated_tokens == 10);
}

TEST_CASE("job schedule: a request that does not fit waits for a new block, the next one fits",
          "[job_schedule]") {
  // (2, 6) needs w + 6 <= 8: never in the first block; (1, 1) behind it fits and takes the
  // freed row at 5 (first fit). The block drains (one idle slot-step), the next one runs (2, 6)
  // alone.
  const std::vector<SequenceLengths> job = {{4, 4}, {4, 2}, {2, 6}, {1, 1}};
  const JobSchedule s = simulate_job(job, {.rows = 2, .capacity = 8, .kept = 0, .refill = true});
  CHECK(write_indices(s, true) == std::vector<int64_t>{4, 2});
  CHECK(write_indices(s, false) == std::vector<int64_t>{4, 5, 6, 2, 3, 4, 5, 6});
  CHECK(live_rows(s) == std::vector<int64_t>{2, 2, 1, 1, 1, 1, 1, 1});
  CHECK(s.idle_slot_steps == 6);
  CHECK(s.slot_steps == 16);
  CHECK(s.lanes == 1);
  CHECK(s.steps[2].lane_prompts == std::vector<int64_t>{1});
  CHECK(s.generated_tokens == 13);
  // With room for it, (2, 6) is a lane of the step at 5 and (1, 1) of the step at 7.
  const JobSchedule roomy =
      simulate_job(job, {.rows = 2, .capacity = 12, .kept = 0, .refill = true});
  CHECK(write_indices(roomy, true) == std::vector<int64_t>{4});
  CHECK(write_indices(roomy, false) == std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10});
  CHECK(roomy.lanes == 2);
  CHECK(roomy.steps[2].lane_prompts == std::vector<int64_t>{2});
  CHECK(roomy.steps[4].lane_prompts == std::vector<int64_t>{1});
  CHECK(roomy.idle_slot_steps == 3);  // the steps at 8, 9 and 10: (2, 6) alone
}

TEST_CASE("job schedule: Phase III's kept positions", "[job_schedule]") {
  // (5, 2) may be a lane when its prompt fits the positions after the kept ones: w + 1 - kept.
  const std::vector<SequenceLengths> job = {{2, 4}, {5, 2}};
  // kept 0: after the steps at 2, 3 and 4, 5 <= 5 + 1.
  const JobSchedule none =
      simulate_job(job, {.rows = 1, .capacity = 12, .kept = 0, .refill = true});
  CHECK(write_indices(none, true) == std::vector<int64_t>{2});
  CHECK(write_indices(none, false) == std::vector<int64_t>{2, 3, 4, 5, 6});
  CHECK(none.lanes == 1);
  // kept 2: 5 > 5 + 1 - 2, so a new block, prefilled at max(5, 2).
  const JobSchedule two = simulate_job(job, {.rows = 1, .capacity = 12, .kept = 2, .refill = true});
  CHECK(write_indices(two, true) == std::vector<int64_t>{2, 5});
  CHECK(write_indices(two, false) == std::vector<int64_t>{2, 3, 4, 5});
  CHECK(two.lanes == 0);
  // A block's prefill is at least the kept positions.
  const JobSchedule four =
      simulate_job({{2, 2}}, {.rows = 1, .capacity = 12, .kept = 4, .refill = true});
  CHECK(write_indices(four, true) == std::vector<int64_t>{4});
}

TEST_CASE("job schedule: invariants over random jobs", "[job_schedule]") {
  uint64_t state = 99;
  const auto next = [&](int64_t below) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return 1 + static_cast<int64_t>((state >> 33) % static_cast<uint64_t>(below));
  };
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<SequenceLengths> job(static_cast<size_t>(next(60)));
    for (SequenceLengths& s : job) s = {next(20), next(30)};
    const int64_t rows = next(8);
    for (const bool refill : {false, true}) {
      const JobShape shape{.rows = rows, .capacity = 50 + next(30), .kept = 0, .refill = refill};
      const JobSchedule s = simulate_job(job, shape);
      int64_t tokens = 0, idle = 0, prefills = 0, lanes = 0;
      for (const JobStep& step : s.steps) {
        CHECK(step.live_rows <= rows);
        if (step.prefill) {
          ++prefills;
          tokens += step.live_rows;
          continue;
        }
        CHECK(step.write_index < shape.capacity);
        CHECK(step.live_rows >= 1);
        tokens += step.live_rows;
        idle += rows - step.live_rows;
        lanes += static_cast<int64_t>(step.lane_prompts.size());
        if (!refill) CHECK(step.lane_prompts.empty());
      }
      const int64_t all =
          std::accumulate(job.begin(), job.end(), int64_t{0},
                          [](int64_t a, const SequenceLengths& s) { return a + s.gen_len; });
      CHECK(tokens == all);  // one token per live row and step
      CHECK(s.generated_tokens == all);
      CHECK(s.idle_slot_steps == idle);
      CHECK(s.prefills == prefills);
      CHECK(s.lanes == lanes);
      CHECK(prefills * rows + lanes >= static_cast<int64_t>(job.size()));
    }
  }
}

TEST_CASE("job schedule: impossible requests are refused", "[job_schedule]") {
  const auto refused = [](const std::vector<SequenceLengths>& job, const JobShape& shape,
                          const std::string& expected) {
    try {
      simulate_job(job, shape);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains(expected));
    }
  };
  refused({{3, 2}, {4, 0}}, {.rows = 2, .capacity = 10},
          "request 1 has prompt_len 4 and gen_len 0");
  refused({{3, 2}, {8, 4}}, {.rows = 1, .capacity = 10}, "request 1 (gen_len 4) does not fit");
  refused({{3, 2}}, {.rows = 0, .capacity = 10}, "at least one row");
  refused({{3, 2}}, {.rows = 1, .capacity = 10, .kept = 10}, "kept positions 10");
}

}  // namespace alisa
