// alisa plan and `policy: auto` as a user drives them: the printed policy runs, auto policies
// generate the same tokens as the resident engine, and bad requests end in one clear line.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "policy/hardware.h"
#include "policy/policy.h"
#include "tests/test_support.h"
#include "tests/unit/cost_test_support.h"

namespace alisa::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

fs::path write_hardware(const ScratchDir& scratch) {
  const fs::path path = scratch / "hardware.yaml";
  write_text(path, hardware_to_yaml(cost_test::test_hardware()));
  return path;
}

}  // namespace

TEST_CASE("alisa plan prints a policy that reads back, and predicts a given one", "[e2e][plan]") {
  ScratchDir scratch;
  const std::string plan = "plan --model dummy:opt-6.7b --hardware " +
                           quoted(write_hardware(scratch)) +
                           " --gpu-memory-limit 14.5GiB --cpu-memory-limit 100GiB";
  std::string output;
  REQUIRE(run_alisa(
              plan + " --workload prompt_len=128,gen_len=64 --output " + quoted(scratch / "p.yaml"),
              &output) == 0);
  INFO(output);
  CHECK_THAT(output, Catch::Contains("# predicted: ") && Catch::Contains("# decode bound by ") &&
                         Catch::Contains("gpu_batch_size: "));
  const Policy chosen = load_policy(scratch / "p.yaml");
  CHECK(chosen.block_size() >= 1);
  // The same policy, predicted rather than chosen, predicts the same.
  REQUIRE(run_alisa(plan + " --workload prompt_len=128,gen_len=64 --json --policy " +
                        quoted(scratch / "p.yaml"),
                    &output) == 0);
  const Json predicted = Json::parse(output);
  REQUIRE(run_alisa(plan + " --workload prompt_len=128,gen_len=64 --json", &output) == 0);
  const Json solved = Json::parse(output);
  CHECK(predicted["prediction"]["total_throughput"].get<double>() ==
        Approx(solved["prediction"]["total_throughput"].get<double>()).epsilon(1e-6));
  CHECK(solved["candidates"].get<int64_t>() > 100);
  // A job of 5 sequences gets a block of at most 5.
  REQUIRE(run_alisa(plan + " --workload prompt_len=128,gen_len=64,sequences=5 --json", &output) ==
          0);
  CHECK(Json::parse(output)["policy_yaml"].get<std::string>().find("gpu_batch_size: ") !=
        std::string::npos);
  CHECK(policy_from_yaml(Json::parse(output)["policy_yaml"].get<std::string>(), "p").block_size() <=
        5);
}

TEST_CASE("alisa plan predicts a job of uneven lengths with and without refill", "[e2e][plan]") {
  ScratchDir scratch;
  const std::string plan = "plan --model dummy:opt-1.3b --hardware " +
                           quoted(write_hardware(scratch)) +
                           " --gpu-memory-limit 4GiB --cpu-memory-limit 20GiB";
  const std::string workload =
      " --workload prompt_len=uniform:min=16,max=64,gen_len=lognormal:median=16,max=64,"
      "sequences=100";
  std::string output;
  REQUIRE(run_alisa(plan + workload, &output) == 0);
  INFO(output);
  CHECK_THAT(output, Catch::Contains("# predicted job: ") &&
                         Catch::Contains("# without refill: block ") &&
                         Catch::Contains("# job: 100 sequences, refill on") &&
                         Catch::Contains("gpu_batch_size: "));
  REQUIRE(run_alisa(plan + workload + " --json", &output) == 0);
  const Json refill = Json::parse(output);
  const Json& job = refill["job"];
  CHECK(job["refill"] == true);
  CHECK(job["sequences"] == 100);
  CHECK(job["capacity"].get<int64_t>() >= 128);
  CHECK(job["useful_throughput"].get<double>() > 0);
  CHECK(job["idle_share"].get<double>() >= 0);
  CHECK(job["idle_share"].get<double>() < 1);
  CHECK(job["steps"] == job["prefills"].get<int64_t>() + job["decode_steps"].get<int64_t>());
  CHECK(refill["prediction"]["total_throughput"] == job["useful_throughput"]);
  const Json& other = refill["job_other_refill"];
  CHECK(other["refill"] == false);
  CHECK(other["lanes"] == 0);
  CHECK(other["generated_tokens"] == job["generated_tokens"]);
  CHECK(policy_from_yaml(other["policy_yaml"].get<std::string>(), "other").block_size() <= 100);
  // refill=off plans the static schedule first; a given policy is predicted both ways.
  REQUIRE(run_alisa(plan + workload + ",refill=off --json --output " + quoted(scratch / "s.yaml"),
                    &output) == 0);
  const Json fixed = Json::parse(output);
  CHECK(fixed["job"]["refill"] == false);
  CHECK(fixed["job"]["useful_throughput"] == other["useful_throughput"]);
  CHECK(fixed["job_other_refill"]["useful_throughput"] == job["useful_throughput"]);
  REQUIRE(run_alisa(plan + workload + " --json --policy " + quoted(scratch / "s.yaml"), &output) ==
          0);
  const Json given = Json::parse(output);
  CHECK(given["job"]["refill"] == true);
  CHECK(given["job_other_refill"]["useful_throughput"].get<double>() ==
        Approx(other["useful_throughput"].get<double>()).epsilon(1e-9));
  // The lengths from a file: sample lines and a job's prompt_ids lines.
  write_text(scratch / "lengths.jsonl",
             "{\"prompt_len\": 40, \"gen_len\": 8}\n\n{\"prompt_len\": 12, \"gen_len\": 30}\n"
             "{\"id\": 3, \"prompt_ids\": [5, 6, 7], \"max_tokens\": 20}\n");
  REQUIRE(run_alisa(plan + " --workload-file " + quoted(scratch / "lengths.jsonl") +
                        " --refill off --json",
                    &output) == 0);
  const Json from_file = Json::parse(output);
  CHECK(from_file["job"]["refill"] == false);
  CHECK(from_file["job"]["sequences"] == 3);
  CHECK(from_file["job"]["generated_tokens"] == 58);
  CHECK(from_file["job"]["capacity"] == 70);  // 40 + 30
  // Bad jobs end in one line naming the culprit.
  require_user_error(plan + " --workload prompt_len=uniform:min=1,max=8,gen_len=4",
                     "needs sequences=N");
  require_user_error(plan + " --workload prompt_len=8,gen_len=lognormal:median=9,max=4,sequences=3",
                     "gen_len 'lognormal:median=9,max=4'");
  write_text(scratch / "text.jsonl", "{\"prompt\": \"hello\", \"max_tokens\": 3}\n");
  require_user_error(plan + " --workload-file " + quoted(scratch / "text.jsonl"),
                     "line 1: a text prompt's length needs the tokenizer");
  require_user_error(plan + " --workload-file " + quoted(scratch / "lengths.jsonl") + workload,
                     "not both");
  require_user_error(plan + workload + " --refill on", "--refill goes with --workload-file");
  require_user_error(plan + " --workload prompt_len=8,gen_len=4,sequences=3,capacity=5",
                     "a cache of 5 positions cannot hold the longest prompt (8)");
}

TEST_CASE("alisa plan names what is wrong with a request", "[e2e][plan][errors]") {
  ScratchDir scratch;
  const std::string hardware = " --hardware " + quoted(write_hardware(scratch));
  const std::string plan = "plan --model dummy:opt-6.7b";
  require_user_error(plan + " --workload prompt_len=128,gen_len=64", "--hardware");
  require_user_error(plan + hardware + " --workload prompt_len=x,gen_len=64", "prompt_len");
  require_user_error(plan + hardware + " --workload prompt_len=8,gen_len=4,batch=3",
                     "unknown key 'batch'");
  require_user_error(plan + hardware + " --workload gen_len=4", "prompt_len=N");
  require_user_error(plan + hardware + " --workload prompt_len=2000,gen_len=100", "max_positions");
  require_user_error(
      plan + hardware + " --workload prompt_len=128,gen_len=64 --gpu-memory-limit 100MiB",
      "no policy fits");
  write_text(scratch / "bad.yaml", "name: x\ncapacity: [1, 2\n");
  require_user_error(
      plan + " --hardware " + quoted(scratch / "bad.yaml") + " --workload prompt_len=8,gen_len=4",
      "bad.yaml");
  require_user_error(
      plan + " --hardware " + quoted(scratch / "none.yaml") + " --workload prompt_len=8,gen_len=4",
      "none.yaml");
  require_user_error(
      "bench --device cpu --model dummy:opt-125m --policy auto --prompt-len 8 "
      "--gen-len 4",
      "hardware profile");
}

TEST_CASE("policy: auto generates what the resident engine generates", "[e2e][plan]") {
  ScratchDir scratch;
  const fs::path hardware = write_hardware(scratch);
  std::string text;
  for (int i = 0; i < 6; ++i) {
    text += Json{{"id", i}, {"prompt_ids", {5 + i, 6, 7, 8, 9 + i, 10}}}.dump() + "\n";
  }
  write_text(scratch / "p.jsonl", text);
  const std::string generate = "generate --device cpu --model " + quoted(fixture_path("opt-tiny")) +
                               " --prompts " + quoted(scratch / "p.jsonl") +
                               " --max-new-tokens 12 --output ";
  std::string output;
  REQUIRE(run_alisa(generate + quoted(scratch / "resident.jsonl"), &output) == 0);
  // Caps small enough that the plan must offload (the CPU run's compute arena stands in for the
  // GPU).
  REQUIRE(run_alisa(generate + quoted(scratch / "auto.jsonl") + " --policy auto --hardware " +
                        quoted(hardware) + " --gpu-memory-limit 2MiB --cpu-memory-limit 64MiB",
                    &output) == 0);
  INFO(output);
  CHECK_THAT(output, Catch::Contains("alisa: policy auto: block "));
  CHECK(read_text(scratch / "auto.jsonl") == read_text(scratch / "resident.jsonl"));

  // bench with auto: the settings record it.
  REQUIRE(run_alisa("bench --device cpu --model " + quoted(fixture_path("opt-tiny")) +
                        " --policy auto --hardware " + quoted(hardware) +
                        " --gpu-memory-limit 2MiB --cpu-memory-limit 64MiB --prompt-len 8 "
                        "--gen-len 4 --batch-size 4 --no-warmup --output " +
                        quoted(scratch / "bench.jsonl"),
                    &output) == 0);
  const Json bench = Json::parse(read_text(scratch / "bench.jsonl"));
  CHECK(bench["settings"]["policy_source"] == "auto");
  CHECK(bench["settings"]["policy"]["gpu_batch_size"].get<int64_t>() *
            bench["settings"]["policy"]["num_gpu_batches"].get<int64_t>() <=
        4);
}

}  // namespace alisa::test
