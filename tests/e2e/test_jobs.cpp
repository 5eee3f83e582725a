// Batch jobs that survive interruptions (issue 19): SIGKILL at random moments and SIGTERM, each
// resumed to the very lines an uninterrupted run writes; resume refused on other settings; a
// torn last line repaired; shards that concatenate to the whole job.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tests/e2e/job_test_support.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// Text prompts of several lengths, sampled (temperature, seed), so that a resume has to repeat
// each line's sampling stream exactly.
std::string job_args(const ScratchDir& scratch, int n_prompts,
                     const std::string& sampling = "--temperature 0.8 --top-k 40 --seed 3") {
  std::string text;
  for (int i = 0; i < n_prompts; ++i) {
    text += Json{{"id", "p" + std::to_string(i)},
                 {"prompt", "def f" + std::to_string(i) + "(x" + std::string(i % 7, 'y') + "):"}}
                .dump() +
            "\n";
  }
  write_text(scratch / "in.jsonl", text);
  return "generate --device cpu --threads 1 --model " + demo_model_path("opt-code").string() +
         " --prompts " + (scratch / "in.jsonl").string() + " --max-new-tokens 10 --batch-size 8 " +
         sampling;
}

}  // namespace

TEST_CASE("a job killed with SIGKILL 20 times resumes to an uninterrupted run's lines",
          "[e2e][jobs][resume]") {
  ScratchDir scratch;
  const std::string args = job_args(scratch, 160);
  std::string log;
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(run_alisa(args + " --output " + (scratch / "whole.jsonl").string(), &log) == 0);
  const double whole_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const std::vector<std::string> expected = sorted_lines(scratch / "whole.jsonl");
  REQUIRE(expected.size() == 160);

  const std::string resumed = args + " --output " + (scratch / "killed.jsonl").string();
  std::mt19937 rng(19);
  // Kill moments from 15% to 60% of an uninterrupted run's time (in a Release build, 150 to 600
  // ms), so that they fall inside the job however fast this build runs (a sanitized one: 3 to 5
  // times slower).
  std::uniform_real_distribution<double> delay_ms(0.15 * whole_ms, 0.6 * whole_ms);
  int interrupted = 0;
  int resumed_mid_job = 0;  // kills after which the output held some lines but not all
  for (int kill_no = 0; kill_no < 20; ++kill_no) {
    const pid_t pid = spawn_alisa(resumed, scratch / "stderr.txt");
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(delay_ms(rng)));
    ::kill(pid, SIGKILL);
    const int status = wait_alisa(pid);
    INFO("kill " << kill_no << ": " << read_text(scratch / "stderr.txt"));
    REQUIRE((status == 0 || status == 128 + SIGKILL));
    interrupted += status != 0;
    if (fs::exists(scratch / "killed.jsonl")) {
      // No torn line, whatever the moment.
      const size_t n = whole_lines(scratch / "killed.jsonl").size();
      resumed_mid_job += n > 0 && n < expected.size();
    }
  }
  CHECK(interrupted > 0);
  CHECK(resumed_mid_job > 0);
  REQUIRE(run_alisa(resumed, &log) == 0);
  const std::vector<std::string> got = sorted_lines(scratch / "killed.jsonl");
  CHECK(got == expected);  // every id once, lines identical
  CHECK(records_by_id(scratch / "killed.jsonl").size() == 160);
}

TEST_CASE("SIGTERM finishes the lines in hand and says how to resume", "[e2e][jobs][resume]") {
  ScratchDir scratch;
  const std::string args = job_args(scratch, 160);
  std::string log;
  REQUIRE(run_alisa(args + " --output " + (scratch / "whole.jsonl").string(), &log) == 0);
  const fs::path out = scratch / "out.jsonl";
  const pid_t pid = spawn_alisa(args + " --output " + out.string(), scratch / "stderr.txt");
  // Once the job has written something, it is mid-run.
  for (int i = 0; i < 2000 && (!fs::exists(out) || fs::file_size(out) == 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGTERM);
  const int status = wait_alisa(pid);
  const std::string message = read_text(scratch / "stderr.txt");
  INFO(message);
  const size_t written = whole_lines(out).size();
  if (written < 160) {  // the signal came before the job's end
    CHECK(status == 1);
    CHECK_THAT(message, Catch::StartsWith("alisa: error: interrupted by SIGTERM"));
    CHECK_THAT(message, Catch::Contains("run the same command again to resume"));
  }
  REQUIRE(run_alisa(args + " --output " + out.string(), &log) == 0);
  CHECK(sorted_lines(out) == sorted_lines(scratch / "whole.jsonl"));
}

TEST_CASE("a resume repairs a torn last line and refuses other settings", "[e2e][jobs][resume]") {
  ScratchDir scratch;
  const std::string args = job_args(scratch, 12);
  const fs::path out = scratch / "out.jsonl";
  std::string log;
  REQUIRE(run_alisa(args + " --output " + out.string(), &log) == 0);
  const std::vector<std::string> expected = sorted_lines(out);

  // Power lost mid-line: half of the last line is on the disk.
  std::string text = read_text(out);
  text.resize(text.size() - 25);
  write_text(out, text);
  REQUIRE(run_alisa(args + " --output " + out.string(), &log) == 0);
  CHECK(sorted_lines(out) == expected);

  const std::string other = job_args(scratch, 12, "--temperature 0.5 --top-k 3 --seed 3");
  require_user_error(other + " --output " + out.string(),
                     "temperature: recorded 0.8, now 0.5; top_k: recorded 40, now 3");
  const fs::path settings = out.string() + ".settings.json";
  REQUIRE(fs::exists(settings));
  REQUIRE(run_alisa(other + " --output " + out.string() + " --overwrite", &log) == 0);
  CHECK(whole_lines(out).size() == 12);
  CHECK(Json::parse(read_text(settings))["temperature"] == 0.5);
}

TEST_CASE("shards split a job by line and concatenate to it", "[e2e][jobs][shard]") {
  ScratchDir scratch;
  const std::string args = job_args(scratch, 11);
  std::string log;
  REQUIRE(run_alisa(args + " --output " + (scratch / "all.jsonl").string(), &log) == 0);
  std::string merged;
  for (int k = 1; k <= 3; ++k) {
    const fs::path part = scratch / ("part" + std::to_string(k) + ".jsonl");
    REQUIRE(run_alisa(args + " --shard " + std::to_string(k) + "/3 --output " + part.string(),
                      &log) == 0);
    for (const auto& [id, record] : records_by_id(part)) {
      // Line L (1-based) is shard ((L - 1) mod 3) + 1: id pI sits on line I + 1.
      CHECK(std::stoi(id.substr(2)) % 3 == k - 1);
    }
    merged += read_text(part);
  }
  write_text(scratch / "merged.jsonl", merged);
  CHECK(sorted_lines(scratch / "merged.jsonl") == sorted_lines(scratch / "all.jsonl"));
  require_user_error(args + " --shard 4/3", "--shard '4/3'");
}

TEST_CASE("a job logs progress lines and writes its metrics", "[e2e][jobs][progress]") {
  ScratchDir scratch;
  std::string args = job_args(scratch, 160);
  // One bad line among the good ones: counted, and the job goes on.
  write_text(scratch / "in.jsonl", read_text(scratch / "in.jsonl") + "{\"id\": \"bad\"}\n");
  const fs::path metrics = scratch / "metrics.json";
  std::string log;
  REQUIRE(run_alisa(args + " --output " + (scratch / "out.jsonl").string() +
                        " --log-interval 0.05 --metrics " + metrics.string(),
                    &log) == 0);
  INFO(log);
  // stderr is not a terminal: whole lines with the figures, then the bad lines' warning.
  CHECK_THAT(log, Catch::Contains("alisa: ") && Catch::Contains("/161 prompts, ") &&
                      Catch::Contains(" tok/s, elapsed ") && Catch::Contains(", ETA "));
  CHECK_THAT(log, Catch::Contains("1 of 161 lines were bad") && Catch::Contains("in.jsonl:161"));
  const Json m = Json::parse(read_text(metrics));
  CHECK(m["prompts"] == 161);
  CHECK(m["completed"] == 160);
  CHECK(m["errors"] == 1);
  CHECK(m["skipped"] == 0);
  CHECK(m["interrupted"] == false);
  CHECK(m["tokens_out"].get<int64_t>() > 160);
  CHECK(m["tokens_out"].get<int64_t>() <= 1600);
  CHECK(m["tokens_in"].get<int64_t>() > 160);
  CHECK(m["wall_s"].get<double>() > 0);
  CHECK(m["memory_bytes"]["process_peak_rss"].get<int64_t>() > 0);
  CHECK(m["memory_bytes"]["compute_tier_peak"].get<int64_t>() > 0);
  CHECK(m["policy"].is_null());
  // Continuous batching ran: every line began in a block's first fill (8 rows) or as a refill.
  const Json& schedule = m["schedule"];
  CHECK(schedule["refill"] == true);
  CHECK(schedule["blocks"].get<int64_t>() >= 1);
  CHECK(schedule["blocks"].get<int64_t>() * 8 + schedule["refills"].get<int64_t>() >= 160);
  CHECK(schedule["decode_steps"].get<int64_t>() >= 9);
  CHECK(schedule["idle_share"].get<double>() >= 0);
  CHECK(schedule["idle_share"].get<double>() < 1);
}

}  // namespace alisa::test
