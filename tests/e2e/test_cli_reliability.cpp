// Bad input of every class docs/RELIABILITY.md lists, through the CLI: what once crashed, hung,
// answered wrongly in silence, named the wrong culprit or lost work must now print one
// `alisa: error:` line naming the culprit and exit 1.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/model/safetensors.h"
#include "tests/e2e/job_test_support.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

void edit_config(const fs::path& model, const std::function<void(Json&)>& edit) {
  Json config = Json::parse(read_text(model / "config.json"));
  edit(config);
  write_text(model / "config.json", config.dump());
}

// `depth` nested arrays.
std::string nested(int depth) {
  return std::string(static_cast<size_t>(depth), '[') +
         std::string(static_cast<size_t>(depth), ']');
}

// The checkpoint rewritten in float32 with element 3 of `tensor` set to `value`.
void poison_weight(const fs::path& model, const std::string& tensor, float value) {
  std::vector<std::vector<float>> data;
  std::vector<SafetensorsTensorView> views;
  {
    const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(model);
    for (const std::string& name : checkpoint.names()) {
      const SafetensorsEntry& entry = checkpoint.at(name);
      data.emplace_back(static_cast<size_t>(entry.n_elements()));
      checkpoint.read_f32(entry, data.back().data());
      if (name == tensor) data.back()[3] = value;
    }
    size_t i = 0;
    for (const std::string& name : checkpoint.names()) {
      views.push_back({.name = name,
                       .dtype = DType::kF32,
                       .shape = checkpoint.at(name).shape,
                       .data = data[i++].data()});
    }
  }
  write_safetensors(model / "model.safetensors", views);
}

}  // namespace

TEST_CASE("input that once crashed alisa is refused in one line",
          "[e2e][cli][errors][reliability]") {
  ScratchDir scratch;
  const fs::path model = copy_fixture_model(scratch, "opt-tiny");
  write_text(scratch / "p.jsonl", "{\"id\": 1, \"prompt_ids\": [5, 6]}\n");
  const std::string run = "generate --device cpu --model " + quoted(model) + " --prompts " +
                          quoted(scratch / "p.jsonl");

  SECTION("a prompt line nested 100,000 levels deep") {
    write_text(scratch / "deep.jsonl", "{\"id\": 1, \"prompt_ids\": " + nested(100000) + "}\n");
    require_user_error("generate --device cpu --model " + quoted(model) + " --prompts " +
                           quoted(scratch / "deep.jsonl") + " --output " +
                           quoted(scratch / "out.jsonl"),
                       "nested deeper than 256 levels");
  }
  SECTION("a forward input nested 100,000 levels deep") {
    write_text(scratch / "in.json", "{\"input_ids\": " + nested(100000) + "}");
    require_user_error("forward --model " + quoted(model) + " --input " +
                           quoted(scratch / "in.json") + " --output " + quoted(scratch / "out.st"),
                       "nested deeper than 256 levels");
  }
  SECTION("a config.json nested 100,000 levels deep") {
    write_text(model / "config.json", "{\"model_type\": " + nested(100000) + "}");
    require_user_error(run, "config.json");
  }
  SECTION("a run YAML nested 100,000 levels deep") {
    write_text(scratch / "run.yaml", "swa: " + nested(100000) + "\n");
    require_user_error(run + " --config " + quoted(scratch / "run.yaml"), "run.yaml");
  }
  SECTION("--threads beyond any machine") {
    require_user_error(run + " --threads 100000", "--threads must be between 1 and 1024");
    require_user_error(run + " --threads -3", "--threads");
    require_user_error(run + " --threads 0", "--threads");
  }
}

TEST_CASE("input that once hung alisa is refused in one line", "[e2e][cli][errors][reliability]") {
  ScratchDir scratch;
  const fs::path model = copy_fixture_model(scratch, "opt-tiny");
  write_text(scratch / "p.jsonl", "{\"id\": 1, \"prompt_ids\": [5, 6]}\n");

  SECTION("model.safetensors that is a FIFO") {
    fs::remove(model / "model.safetensors");
    REQUIRE(::mkfifo((model / "model.safetensors").c_str(), 0600) == 0);
    require_user_error("generate --device cpu --model " + quoted(model) + " --prompts " +
                           quoted(scratch / "p.jsonl"),
                       "is a FIFO");
  }
  SECTION("a prompts file that is a FIFO") {
    REQUIRE(::mkfifo((scratch / "fifo.jsonl").c_str(), 0600) == 0);
    require_user_error("generate --device cpu --model " + quoted(model) + " --prompts " +
                           quoted(scratch / "fifo.jsonl"),
                       "is a FIFO");
  }
}

TEST_CASE("input that once gave a silent wrong answer is refused in one line",
          "[e2e][cli][errors][reliability]") {
  ScratchDir scratch;
  write_text(scratch / "p.jsonl", "{\"id\": 1, \"prompt_ids\": [5, 6]}\n");
  const std::string prompts = " --device cpu --prompts " + quoted(scratch / "p.jsonl");

  SECTION("NaN or infinity in the weights") {
    const float value =
        GENERATE(std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity());
    const fs::path model = copy_fixture_model(scratch, "opt-tiny");
    poison_weight(model, "model.decoder.layers.1.fc2.weight", value);
    require_user_error("generate --model " + quoted(model) + prompts,
                       "'model.decoder.layers.1.fc2.weight' holds");
  }
  SECTION("config.json with fewer layers than the checkpoint") {
    const fs::path model = copy_fixture_model(scratch, "opt-tiny");
    edit_config(model, [](Json& c) { c["num_hidden_layers"] = 1; });
    require_user_error("generate --model " + quoted(model) + prompts, "num_hidden_layers is 1");
  }
  SECTION("rope_theta or rms_norm_eps out of range") {
    const fs::path model = copy_fixture_model(scratch, "llama-tiny");
    const std::string run = "generate --model " + quoted(model) + prompts;
    edit_config(model, [](Json& c) { c["rope_parameters"]["rope_theta"] = 0; });
    require_user_error(run, "rope_theta");
    edit_config(model, [](Json& c) { c["rope_parameters"]["rope_theta"] = -5.0; });
    require_user_error(run, "rope_theta");
    edit_config(model, [](Json& c) {
      c["rope_parameters"]["rope_theta"] = 10000.0;
      c["rms_norm_eps"] = -1e-6;
    });
    require_user_error(run, "rms_norm_eps");
    edit_config(model, [](Json& c) { c["rms_norm_eps"] = 0; });
    require_user_error(run, "rms_norm_eps");
  }
  SECTION("token ids beyond the vocabulary or int32") {
    const fs::path model = copy_fixture_model(scratch, "opt-tiny");
    const std::string run = "generate --model " + quoted(model) + prompts;
    edit_config(model, [](Json& c) { c["pad_token_id"] = 512; });
    require_user_error(run, "pad_token_id 512 is outside the vocabulary of 512");
    edit_config(model, [](Json& c) {
      c["pad_token_id"] = 1;
      c["bos_token_id"] = 4294967298LL;  // 2 once truncated to int32
    });
    require_user_error(run, "bos_token_id 4294967298");
    edit_config(model, [](Json& c) {
      c["bos_token_id"] = 2;
      c["eos_token_id"] = Json::array({2, 4294967298LL});
    });
    require_user_error(run, "eos_token_id 4294967298");
  }
  SECTION("memory caps of 0, negative counts") {
    const fs::path model = copy_fixture_model(scratch, "opt-tiny");
    const std::string run = "generate --model " + quoted(model) + prompts;
    require_user_error(run + " --cpu-memory-limit 0", "--cpu-memory-limit must be more than 0");
    require_user_error(run + " --gpu-memory-limit 0", "--gpu-memory-limit must be more than 0");
    require_user_error(run + " --batch-size -2", "--batch-size must be at least 1");
    require_user_error(run + " --max-new-tokens 0", "--max-new-tokens must be at least 1");
    write_text(scratch / "run.yaml", "cpu_memory_limit: 0\n");
    require_user_error(run + " --config " + quoted(scratch / "run.yaml"), "'cpu_memory_limit'");
    write_text(scratch / "text.txt", "hello world");
    const std::string perplexity = "perplexity --device cpu --model " + quoted(model) +
                                   " --tokenizer " +
                                   quoted(demo_model_path("opt-code") / "tokenizer.json") +
                                   " --text " + quoted(scratch / "text.txt");
    require_user_error(perplexity + " --stride -5", "--stride");
    require_user_error(perplexity + " --context-length -1", "--context-length");
    require_user_error("bench --device cpu --model dummy:opt-125m --batch-sizes 1,-2", "-2");
  }
  SECTION("a run YAML with a key twice") {
    const fs::path model = copy_fixture_model(scratch, "opt-tiny");
    write_text(scratch / "run.yaml", "model: " + model.string() + "\nmodel: dummy:opt-125m\n");
    require_user_error("generate --config " + quoted(scratch / "run.yaml") + prompts,
                       "key 'model' appears more than once");
    write_text(scratch / "run.yaml", "swa:\n  sparsity: 0.5\n  sparsity: 0.9\n");
    require_user_error(
        "generate --model " + quoted(model) + " --config " + quoted(scratch / "run.yaml") + prompts,
        "appears more than once");
  }
}

TEST_CASE("the culprit named is the right one", "[e2e][cli][errors][reliability]") {
  ScratchDir scratch;
  write_text(scratch / "text.jsonl", "{\"id\": 1, \"prompt\": \"hello\"}\n");
  const std::string prompts = " --device cpu --prompts " + quoted(scratch / "text.jsonl");

  require_user_error("generate --model " + quoted(scratch / "nowhere") + prompts,
                     "model folder '" + (scratch / "nowhere").string() + "' does not exist");
  require_user_error("generate --model " + quoted(scratch / "text.jsonl") + prompts,
                     "is not a folder");
  require_user_error("generate --model dummy:opt-nonesuch" + prompts,
                     "unknown model architecture 'opt-nonesuch'");
  const fs::path model = copy_fixture_model(scratch, "opt-tiny");
  fs::remove(model / "model.safetensors");
  require_user_error("generate --model " + quoted(model) + prompts,
                     "has neither model.safetensors nor model.safetensors.index.json");

  write_text(scratch / "p.jsonl", "{\"id\": 1, \"prompt_ids\": [5, 6]}\n");
  const std::string run = "generate --device cpu --model " +
                          quoted(copy_fixture_model(scratch, "llama-tiny")) + " --prompts " +
                          quoted(scratch / "p.jsonl");
  require_user_error(run + " --gpu-memory-limit 1KiB", "(--gpu-memory-limit");
  require_user_error(run + " --cpu-memory-limit 1KiB", "(--cpu-memory-limit)");
  require_user_error(run + " --output " + quoted(scratch / "no-dir" / "out.jsonl"),
                     "No such file or directory");
  require_user_error(run + " --output " + quoted(scratch.path()), "Is a directory");
}

TEST_CASE("no work is lost to a bad output path or a bad index",
          "[e2e][cli][errors][reliability]") {
  ScratchDir scratch;
  const fs::path model = copy_fixture_model(scratch, "opt-tiny");
  const std::string prompts_text = "{\"id\": 1, \"prompt_ids\": [5, 6]}\n";
  write_text(scratch / "p.jsonl", prompts_text);
  const std::string run = "generate --device cpu --model " + quoted(model) + " --prompts " +
                          quoted(scratch / "p.jsonl");

  SECTION("--output that is the prompts file, by another name") {
    fs::create_symlink(scratch / "p.jsonl", scratch / "same.jsonl");
    require_user_error(run + " --overwrite --output " + quoted(scratch / "same.jsonl"),
                       "is the prompts file");
    require_user_error(run + " --overwrite --output " + quoted(scratch / "." / "p.jsonl"),
                       "is the prompts file");
    CHECK(read_text(scratch / "p.jsonl") == prompts_text);
  }
  SECTION("--metrics in a missing folder is refused before the job runs") {
    require_user_error(run + " --output " + quoted(scratch / "out.jsonl") + " --metrics " +
                           quoted(scratch / "no-dir" / "m.json"),
                       "metrics file");
    CHECK_FALSE(fs::exists(scratch / "out.jsonl"));
  }
  SECTION("a sharded index naming a file outside its folder") {
    fs::rename(model / "model.safetensors", scratch / "outside.safetensors");
    const SafetensorsCheckpoint outside =
        SafetensorsCheckpoint::open(scratch / "outside.safetensors");
    Json map = Json::object();
    for (const std::string& name : outside.names()) map[name] = "../outside.safetensors";
    write_text(model / "model.safetensors.index.json", Json{{"weight_map", map}}.dump());
    require_user_error(run, "lies outside the index's folder");
  }
}

TEST_CASE("SIGTERM and SIGKILL mid-job with the disk tier leave no scratch files",
          "[e2e][jobs][disk_tier]") {
  ScratchDir scratch;
  std::string text;
  for (int i = 0; i < 24; ++i) {
    text += Json{{"id", i}, {"prompt", "def f" + std::to_string(i) + "(x):"}}.dump() + "\n";
  }
  write_text(scratch / "in.jsonl", text);
  // Every weight, the cache and half the activations on disk.
  write_text(scratch / "disk.yaml",
             "gpu_batch_size: 4\nnum_gpu_batches: 2\nweights_gpu_percent: 0\n"
             "weights_cpu_percent: 0\ncache_gpu_percent: 0\ncache_cpu_percent: 0\n"
             "activations_gpu_percent: 50\nactivations_cpu_percent: 0\n");
  const fs::path offload = scratch / "offload";
  fs::create_directories(offload);
  // A scratch file of a process that is gone, as a SIGKILL before this change left them.
  // (2^31 - 1 is past any pid_max, so no process has it.)
  const fs::path stale = offload / "alisa-kv-cache-2147483647.bin";
  write_text(stale, "stale");
  const fs::path out = scratch / "out.jsonl";
  const std::string args = "generate --device cpu --threads 1 --model " +
                           demo_model_path("opt-code").string() + " --prompts " +
                           (scratch / "in.jsonl").string() + " --max-new-tokens 12 --policy " +
                           (scratch / "disk.yaml").string() + " --offload-dir " + offload.string() +
                           " --output " + out.string();
  const auto scratch_files = [&] {
    std::string names;
    for (const auto& entry : fs::directory_iterator(offload)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("alisa-", 0) == 0) names += name + " ";
    }
    return names;
  };
  // Until the job (resumed, the second time) has written a new line: it is then mid-run, long
  // past its exec (a signal before it would hit the forked test process).
  const auto wait_for_new_output = [&](uintmax_t before) {
    for (int i = 0; i < 4000 && (!fs::exists(out) || fs::file_size(out) <= before); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  for (const int signal : {SIGKILL, SIGTERM}) {
    const uintmax_t before = fs::exists(out) ? fs::file_size(out) : 0;
    const pid_t pid = spawn_alisa(args, scratch / "stderr.txt");
    wait_for_new_output(before);
    ::kill(pid, signal);
    const int status = wait_alisa(pid);
    INFO("signal " << signal << ": " << read_text(scratch / "stderr.txt"));
    CHECK((status == 0 || status == 1 || status == 128 + SIGKILL));
    INFO("scratch files: " << scratch_files());
    CHECK(scratch_files().empty());  // the stale file swept, ours unlinked once open
    whole_lines(out);                // no torn line
  }
  std::string log;
  REQUIRE(run_alisa(args, &log) == 0);
  CHECK(records_by_id(out).size() == 24);
  CHECK(scratch_files().empty());
}

}  // namespace alisa::test
