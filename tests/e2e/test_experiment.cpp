// alisa experiment through the CLI: a small grid on the opt-code demo model (results, resume,
// plots), and files refused before any point runs.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/test_support.h"

namespace alisa::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// A quick grid: 2 batch sizes x 2 sparsities, bench and perplexity, one plot of each kind.
std::string grid_experiment() {
  const fs::path model = demo_model_path("opt-code");
  return "base:\n"
         "  model: " +
         model.string() +
         "\n"
         "  device: cpu\n"
         "  threads: 1\n"
         "  prompt_len: 24\n"
         "  gen_len: 4\n"
         "  swa:\n"
         "    min_tokens: 4\n"
         "axes:\n"
         "  - batch_size: [1, 2]\n"
         "  - swa.sparsity: [0, 0.5]\n"
         "measure:\n"
         "  bench:\n"
         "  perplexity:\n"
         "    text: " +
         (model / "heldout.txt").string() +
         "\n"
         "    context_length: 64\n"
         "    text_bytes: 600\n"
         "plots:\n"
         "  - name: throughput\n"
         "    x: batch_size\n"
         "    y: bench.total_throughput\n"
         "    series: swa.sparsity\n"
         "  - name: phases\n"
         "    kind: stacked\n"
         "    x: point\n"
         "    y: [bench.prefill_latency_s, bench.decode_latency_s]\n";
}

std::vector<std::string> lines_of(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool starts_with_bytes(const fs::path& path, const std::string& magic) {
  std::ifstream in(path, std::ios::binary);
  std::string head(magic.size(), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  return head == magic;
}

}  // namespace

TEST_CASE("alisa experiment runs a grid once, resumes, and draws its plots", "[e2e][experiment]") {
  ScratchDir scratch;
  const fs::path file = scratch / "grid.yaml";
  const fs::path out = scratch / "out";
  write_text(file, grid_experiment());
  const std::string command = "experiment " + quoted(file) + " --output-dir " + quoted(out);
  std::string output;
  REQUIRE(run_alisa(command + " --dry-run", &output) == 0);
  CHECK(output.find("4 points, 4 to run") != std::string::npos);
  CHECK_FALSE(fs::exists(out / "results.jsonl"));

  REQUIRE(run_alisa(command, &output) == 0);
  INFO(output);
  const std::vector<std::string> lines = lines_of(out / "results.jsonl");
  REQUIRE(lines.size() == 4);
  std::set<std::pair<int64_t, double>> grid;
  for (const std::string& line : lines) {
    const Json r = Json::parse(line);
    CHECK_FALSE(r.contains("error"));
    // The full settings of the point, and both measurements.
    CHECK(r["settings"]["model"] == demo_model_path("opt-code").string());
    CHECK(r["settings"]["device"] == "cpu");
    CHECK(r["settings"]["engine"] == "alisa");
    CHECK(r["settings"]["swa.min_tokens"] == 4);
    grid.emplace(r["settings"]["batch_size"].get<int64_t>(),
                 r["settings"]["swa.sparsity"].get<double>());
    CHECK(r["bench"]["batch_size"] == r["settings"]["batch_size"]);
    CHECK(r["bench"]["total_throughput"].get<double>() > 0);
    CHECK(r["perplexity"]["perplexity"].get<double>() > 1);
    CHECK(r["perplexity"]["context_length"] == 64);
  }
  CHECK(grid == std::set<std::pair<int64_t, double>>{{1, 0}, {1, 0.5}, {2, 0}, {2, 0.5}});
  // Sparsity changes what the decode path attends, so the perplexity differs; the batch does not.
  const Json first = Json::parse(lines[0]), second = Json::parse(lines[1]);
  CHECK(first["perplexity"]["perplexity"] != second["perplexity"]["perplexity"]);

  const std::vector<std::string> csv = lines_of(out / "results.csv");
  REQUIRE(csv.size() == 5);
  for (const char* column : {"point", "batch_size", "swa.sparsity", "bench.total_throughput",
                             "bench.schedule.decode.wall_s", "perplexity.perplexity"}) {
    CHECK(csv[0].find(column) != std::string::npos);
  }
  for (const char* plot : {"throughput", "phases"}) {
    INFO(plot);
    CHECK(fs::file_size(out / (std::string(plot) + ".png")) > 1000);
    CHECK(starts_with_bytes(out / (std::string(plot) + ".png"), "\x89PNG"));
    CHECK(fs::file_size(out / (std::string(plot) + ".svg")) > 1000);
    CHECK(read_text(out / (std::string(plot) + ".svg")).find("<svg") != std::string::npos);
  }

  // A second run measures nothing again.
  REQUIRE(run_alisa(command, &output) == 0);
  CHECK(output.find("0 run now, 4 skipped as done before") != std::string::npos);
  CHECK(lines_of(out / "results.jsonl") == lines);

  // An interrupted run resumes: the missing point runs, a torn last line is cut off.
  {
    std::string kept;
    for (size_t i = 0; i < 3; ++i) kept += lines[i] + "\n";
    write_text(out / "results.jsonl", kept + lines[3].substr(0, 40));
    fs::remove(out / "throughput.png");
    REQUIRE(run_alisa(command, &output) == 0);
    CHECK(output.find("1 run now, 3 skipped as done before") != std::string::npos);
    const std::vector<std::string> resumed = lines_of(out / "results.jsonl");
    REQUIRE(resumed.size() == 4);
    CHECK(std::vector<std::string>(resumed.begin(), resumed.begin() + 3) ==
          std::vector<std::string>(lines.begin(), lines.begin() + 3));
    CHECK(Json::parse(resumed[3])["settings"] == Json::parse(lines[3])["settings"]);
    CHECK(fs::file_size(out / "throughput.png") > 1000);
  }
}

TEST_CASE("alisa experiment records generate's metrics and plan's prediction",
          "[e2e][experiment]") {
  ScratchDir scratch;
  const fs::path file = scratch / "job.yaml";
  write_text(file, "base:\n  model: " + demo_model_path("opt-code").string() +
                       "\n  device: cpu\n  threads: 1\n  prompts: " +
                       (fs::path(ALISA_SOURCE_DIR) / "configs/prompts/example.jsonl").string() +
                       "\n  max_new_tokens: 3\n  hardware: " +
                       (fs::path(ALISA_SOURCE_DIR) / "configs/hardware/h100-host.yaml").string() +
                       "\n  prompt_len: 64\n  gen_len: 8\nmeasure:\n  generate:\n  plan:\n");
  std::string output;
  REQUIRE(run_alisa("experiment " + quoted(file) + " --output-dir " + quoted(scratch / "out"),
                    &output) == 0);
  INFO(output);
  const std::vector<std::string> lines = lines_of(scratch / "out" / "results.jsonl");
  REQUIRE(lines.size() == 1);
  const Json r = Json::parse(lines[0]);
  CHECK_FALSE(r.contains("error"));
  CHECK(r["generate"]["completed"] == 6);
  CHECK(r["generate"]["tokens_out"].get<int64_t>() > 0);
  CHECK(r["plan"]["prediction"]["total_throughput"].get<double>() > 0);
  CHECK(r["plan"]["policy_yaml"].get<std::string>().find("gpu_batch_size") != std::string::npos);
  // The job's own output is the point's, beside its run YAML.
  CHECK(lines_of(scratch / "out" / "points" / "point-0.generate.jsonl").size() == 6);
}

TEST_CASE("alisa experiment refuses bad files before any point runs", "[e2e][experiment]") {
  ScratchDir scratch;
  const std::string model = "  model: " + demo_model_path("opt-code").string() + "\n";
  const std::string measure = "measure:\n  bench:\n";
  struct Case {
    std::string text;
    std::string culprit;
  };
  const std::vector<Case> cases = {
      {"base:\n" + model + "  modle: x\n" + measure, "'modle'"},
      {"base:\n" + model + measure + "axes:\n  - batchsize: [1, 2]\n", "'batchsize'"},
      {"base:\n" + model + measure + "axes:\n  - swa.sparsity: [0.5, 1.5]\n", "sparsity"},
      {"base:\n" + model + measure + "axes:\n  - swa.spars: [0.5]\n", "'swa.spars'"},
      {"base:\n" + model + measure + "axes:\n  - device: [cpu, tpu]\n", "device"},
      {"base:\n" + model + measure + "axes:\n  - zip:\n      batch_size: [1, 2]\n" +
           "      swa.sparsity: [0, 0.5, 0.8]\n",
       "differ in length"},
      {"base:\n" + model + measure + "axes:\n  - batch_size: [1, 1]\n", "same settings"},
      {"base:\n" + model + "measure:\n  latency:\n", "'latency'"},
      {"base:\n" + model + "measure:\n  perplexity:\n    context_length: 64\n", "'text'"},
      {"base:\n" + model + measure + "plan: true\n", "'plan'"},
      {"base:\n" + model + measure + "plots:\n  - {name: p, x: batch_size, y: throughput}\n",
       "'throughput'"},
      {"base:\n" + model + "  output: x.jsonl\n" + measure, "'output'"},
      {"base:\n" + model + measure + "axes:\n  - engine: [alisa, flexgen]\n", "dummy:opt-"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO(cases[i].text);
    const fs::path file = scratch / ("bad" + std::to_string(i) + ".yaml");
    write_text(file, cases[i].text);
    require_user_error("experiment " + quoted(file) + " --output-dir " + quoted(scratch / "out"),
                       cases[i].culprit);
    CHECK_FALSE(fs::exists(scratch / "out"));
  }

  // FlexGen points where the peer is not: refused, and no point runs.
  {
    write_text(scratch / "flexgen.yaml",
               "base:\n  model: dummy:opt-125m\n  policy: " + (scratch / "p.yaml").string() +
                   "\naxes:\n  - engine: [alisa, flexgen]\n" + measure);
    write_text(scratch / "p.yaml", "gpu_batch_size: 2\n");
    require_user_error("experiment " + quoted(scratch / "flexgen.yaml") + " --output-dir " +
                           quoted(scratch / "out") + " --peer " + quoted(scratch / "no-peer"),
                       "run_flexgen.py");
    CHECK_FALSE(fs::exists(scratch / "out"));
    // --dry-run shows what FlexGen would be asked: the policy's placement and the block.
    write_text(scratch / "p.yaml",
               "gpu_batch_size: 2\nnum_gpu_batches: 2\nweights_gpu_percent: 20\n"
               "weights_cpu_percent: 80\ncache_gpu_percent: 0\ncache_cpu_percent: 100\n"
               "activations_gpu_percent: 0\nactivations_cpu_percent: 100\ncpu_attention: true\n");
    std::string output;
    REQUIRE(run_alisa("experiment " + quoted(scratch / "flexgen.yaml") + " --dry-run --peer " +
                          quoted(scratch / "no-peer"),
                      &output) == 0);
    CHECK(output.find("--model facebook/opt-125m --percent 20 80 0 100 0 100 --gpu-batch-size 2 "
                      "--num-gpu-batches 2") != std::string::npos);
    CHECK(output.find("--cpu-cache-compute") != std::string::npos);
  }
}

}  // namespace alisa::test
