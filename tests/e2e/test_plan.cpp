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
