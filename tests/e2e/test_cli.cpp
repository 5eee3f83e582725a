// The alisa binary as a user drives it: the fixture checks through the CLI, and bad input that
// must end in one clear line and exit status 1.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/model/safetensors.h"
#include "runtime/ops/backend.h"
#include "tests/e2e/fixture_reference.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

void write_prompts(const fs::path& path, const std::vector<std::vector<int32_t>>& prompts) {
  std::string text;
  for (size_t i = 0; i < prompts.size(); ++i) {
    text += Json{{"id", i}, {"prompt_ids", prompts[i]}}.dump() + "\n";
  }
  write_text(path, text);
}

// The records of a JSON-lines file.
std::vector<Json> read_jsonl(const fs::path& path) {
  std::vector<Json> records;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) records.push_back(Json::parse(line));
  return records;
}

}  // namespace

TEST_CASE("alisa forward writes Hugging Face's logits", "[e2e][cli]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny");
  const FixtureReference ref = load_fixture_reference(name);
  ScratchDir scratch;
  const Json reference = Json::parse(read_text(ref.model_dir / "reference.json"));
  write_text(scratch / "in.json", Json{{"input_ids", reference["input_ids"]},
                                       {"attention_mask", reference["attention_mask"]}}
                                      .dump());
  std::string output;
  REQUIRE(run_alisa("forward --model " + quoted(ref.model_dir) + " --input " +
                        quoted(scratch / "in.json") + " --output " + quoted(scratch / "out.st"),
                    &output) == 0);
  const SafetensorsCheckpoint out = SafetensorsCheckpoint::open(scratch / "out.st");
  const SafetensorsEntry& logits = out.at("logits");
  REQUIRE(logits.dtype == DType::kF32);
  REQUIRE(logits.shape == std::vector<int64_t>{ref.batch, ref.seq_len, ref.vocab});
  std::vector<float> values(static_cast<size_t>(logits.n_elements()));
  out.read_f32(logits, values.data());
  for (int64_t row = 0; row < ref.batch * ref.seq_len; ++row) {
    if (ref.attention_mask[row] == 0) continue;
    REQUIRE(row_relative_error(&values[row * ref.vocab], &ref.prefill_logits[row * ref.vocab],
                               ref.vocab) <= 1e-4);
  }
}

TEST_CASE("alisa generate reproduces the greedy reference from a run YAML", "[e2e][cli]") {
  const std::string name = GENERATE("opt-tiny", "llama-tiny");
  const FixtureReference ref = load_fixture_reference(name);
  ScratchDir scratch;
  write_prompts(scratch / "prompts.jsonl", ref.prompts);
  write_text(scratch / "run.yaml", "model: " + ref.model_dir.string() +
                                       "\nprompts: prompts.jsonl\nmax_new_tokens: 3\ndevice: cpu\n"
                                       "batch_size: 2\nstop_at_eos: false\n");
  std::string output;
  // Flags override the YAML: max_new_tokens comes from the command line.
  REQUIRE(run_alisa("generate --config " + quoted(scratch / "run.yaml") + " --max-new-tokens " +
                        std::to_string(ref.gen_len) + " --output " + quoted(scratch / "out.jsonl"),
                    &output) == 0);
  // Lines come in completion order, each with its prompt's id.
  std::ifstream in(scratch / "out.jsonl");
  std::string line;
  std::set<size_t> ids;
  for (; std::getline(in, line);) {
    const Json record = Json::parse(line);
    const size_t id = record["id"].get<size_t>();
    REQUIRE(id < ref.prompts.size());
    CHECK(ids.insert(id).second);
    CHECK(record["token_ids"].get<std::vector<int32_t>>() == ref.generated[id]);
    CHECK(record["finish_reason"] == "length");
  }
  CHECK(ids.size() == ref.prompts.size());
}

TEST_CASE("alisa tokenize reproduces Hugging Face's tokenizer", "[e2e][cli]") {
  const std::string name =
      GENERATE("tokenizer-bytelevel", "tokenizer-sentencepiece", "tokenizer-llama3");
  ScratchDir scratch;
  const fs::path dir = fixture_path(name);
  const Json cases = Json::parse(read_text(dir / "cases.json"));
  std::string input;
  for (const Json& c : cases) input += Json{{"text", c["text"]}}.dump() + "\n";
  write_text(scratch / "in.jsonl", input);
  // The byte-level fixture has no ids with special tokens; the others are checked both ways.
  const bool has_special = cases.at(0).contains("ids_with_special_tokens");
  for (const bool add_special :
       has_special ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
    std::string output;
    REQUIRE(run_alisa("tokenize --tokenizer " + quoted(dir / "tokenizer.json") + " --input " +
                          quoted(scratch / "in.jsonl") + " --output " +
                          quoted(scratch / "out.jsonl") +
                          (add_special ? " --add-special-tokens" : ""),
                      &output) == 0);
    const std::vector<Json> records = read_jsonl(scratch / "out.jsonl");
    REQUIRE(records.size() == cases.size());
    for (size_t n = 0; n < records.size(); ++n) {
      INFO(name << " case " << n << (add_special ? " with special tokens" : ""));
      CHECK(records[n]["ids"] == cases[n][add_special ? "ids_with_special_tokens" : "ids"]);
      if (!add_special) CHECK(records[n]["decoded"] == cases[n]["decoded"]);
    }
  }
}

TEST_CASE("damaged weights are named in a one-line error", "[e2e][cli][errors]") {
  ScratchDir scratch;
  write_prompts(scratch / "p.jsonl", {{5, 6, 7}});
  const std::string prompts = " --device cpu --prompts " + quoted(scratch / "p.jsonl");

  SECTION("truncated safetensors") {
    const fs::path model = copy_fixture_model(scratch, "opt-tiny");
    fs::resize_file(model / "model.safetensors", fs::file_size(model / "model.safetensors") / 2);
    require_user_error("generate --model " + quoted(model) + prompts, "model.safetensors");
  }
  SECTION("corrupt header") {
    const fs::path model = copy_fixture_model(scratch, "opt-tiny");
    std::fstream file(model / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(8);
    file.write("#garbage", 8);
    file.close();
    require_user_error("generate --model " + quoted(model) + prompts, "model.safetensors");
  }
  SECTION("weights that do not match config.json") {
    const fs::path model = copy_fixture_model(scratch, "llama-tiny");
    Json config = Json::parse(read_text(model / "config.json"));
    config["intermediate_size"] = 96;
    write_text(model / "config.json", config.dump());
    require_user_error("generate --model " + quoted(model) + prompts, "mlp.gate_proj.weight");
  }
  SECTION("a missing tensor") {
    const fs::path model = copy_fixture_model(scratch, "llama-tiny");
    Json config = Json::parse(read_text(model / "config.json"));
    config["num_hidden_layers"] = 3;
    write_text(model / "config.json", config.dump());
    require_user_error("generate --model " + quoted(model) + prompts, "model.layers.2.");
  }
  SECTION("a missing model folder") {
    require_user_error("generate --model " + quoted(scratch / "nowhere") + prompts, "nowhere");
  }
}

TEST_CASE("bad configs and prompts are named in a one-line error", "[e2e][cli][errors]") {
  ScratchDir scratch;
  const fs::path model = copy_fixture_model(scratch, "opt-tiny");
  write_prompts(scratch / "p.jsonl", {{5, 6, 7}});
  const std::string run = "generate --device cpu --model " + quoted(model) + " --prompts " +
                          quoted(scratch / "p.jsonl");

  SECTION("config.json that is not JSON") {
    write_text(model / "config.json", "{\"model_type\": \"opt\",");
    require_user_error(run, "config.json");
  }
  SECTION("config.json of an unsupported family") {
    Json config = Json::parse(read_text(model / "config.json"));
    config["model_type"] = "gpt2";
    write_text(model / "config.json", config.dump());
    require_user_error(run, "gpt2");
  }
  SECTION("a mixture of experts (mixtral-tiny)") {
    const std::string mixtral = "generate --device cpu --model " +
                                quoted(fixture_path("mixtral-tiny")) + " --prompts " +
                                quoted(scratch / "p.jsonl");
    require_user_error(mixtral, "model_type 'mixtral' is a sparse mixture of experts");
  }
  SECTION("a run longer than the model's sliding window") {
    const fs::path mistral = copy_fixture_model(scratch, "mistral-tiny");
    Json config = Json::parse(read_text(mistral / "config.json"));
    config["sliding_window"] = 8;  // 3 prompt tokens + 6 new ones need 9 positions
    write_text(mistral / "config.json", config.dump());
    const std::string mistral_run = "generate --device cpu --model " + quoted(mistral) +
                                    " --prompts " + quoted(scratch / "p.jsonl");
    require_user_error(mistral_run + " --max-new-tokens 6", "sliding_window is 8");
    std::string output;
    CHECK(run_alisa(mistral_run + " --max-new-tokens 5", &output) == 0);
  }
  SECTION("config.json missing a key") {
    Json config = Json::parse(read_text(model / "config.json"));
    config.erase("hidden_size");
    write_text(model / "config.json", config.dump());
    require_user_error(run, "hidden_size");
  }
  SECTION("an unknown YAML key") {
    write_text(scratch / "run.yaml", "max_new_tokens: 4\nmax_new_tokenz: 5\n");
    require_user_error(run + " --config " + quoted(scratch / "run.yaml"), "max_new_tokenz");
  }
  SECTION("malformed YAML") {
    write_text(scratch / "run.yaml", "max_new_tokens: [4\n");
    require_user_error(run + " --config " + quoted(scratch / "run.yaml"), "run.yaml");
  }
  SECTION("a YAML value of the wrong type") {
    write_text(scratch / "run.yaml", "temperature: warm\n");
    require_user_error(run + " --config " + quoted(scratch / "run.yaml"), "temperature");
  }
  // A job whose every line is bad: an error record per line in the output, then one error line
  // naming the first, and exit status 1 (a bad line among good ones is tests/e2e/test_jobs.cpp's).
  const auto require_bad_job = [&](const std::string& prompts, const std::string& culprit,
                                   const std::string& code) {
    const fs::path out = scratch / "out.jsonl";
    require_user_error("generate --device cpu --model " + quoted(model) + " --prompts " +
                           quoted(scratch / prompts) + " --output " + quoted(out) + " --overwrite",
                       culprit);
    const Json record = Json::parse(read_text(out).substr(0, read_text(out).find('\n')));
    CHECK(record["error"]["code"] == code);
  };
  SECTION("a prompt longer than the model's positions") {
    write_prompts(scratch / "long.jsonl", {std::vector<int32_t>(120, 7)});
    require_bad_job("long.jsonl", "positions", "context_length_exceeded");
  }
  SECTION("a token id outside the vocabulary") {
    write_prompts(scratch / "bad.jsonl", {{5, 600}});
    require_bad_job("bad.jsonl", "600", "invalid_request");
  }
  SECTION("a prompts file whose every line is bad") {
    write_text(scratch / "bad.jsonl", "{\"id\": 1, \"prompt_ids\": [1, -2]}\n{oops\n");
    require_bad_job("bad.jsonl", "bad.jsonl:1", "invalid_request");
  }
  SECTION("a text prompt without a tokenizer") {
    write_text(scratch / "text.jsonl", "{\"id\": 1, \"prompt\": \"hello\"}\n");
    require_bad_job("text.jsonl", "tokenizer", "invalid_request");
  }
  SECTION("an impossible sampling setting") {
    require_user_error(run + " --top-p 1.5", "top_p");
  }
  SECTION("an unknown flag") {
    require_user_error(run + " --frobnicate", "frobnicate");
  }
  SECTION("a memory cap too small for the weights") {
    require_user_error(run + " --cpu-memory-limit 64KiB", "memory limit");
  }
  SECTION("impossible sparse window attention settings") {
    require_user_error(run + " --swa-sparsity 1.5", "sparsity");
    write_text(scratch / "run.yaml", "swa:\n  window_max: 0\n  sparsity: 0.5\n");
    require_user_error(run + " --config " + quoted(scratch / "run.yaml"), "window_max");
    write_text(scratch / "policy.yaml",
               "cache_cpu_percent: 100\ncache_gpu_percent: 0\n"
               "cache_recompute_percent: 50\n");
    require_user_error(run + " --policy " + quoted(scratch / "policy.yaml"),
                       "cache_recompute_percent");
  }
}

TEST_CASE("alisa generate and forward take the sparse window attention flags", "[e2e][cli][swa]") {
  ScratchDir scratch;
  write_prompts(scratch / "p.jsonl", {{5, 6, 7, 8, 9, 10, 11, 12}, {20, 21, 22}});
  const std::string model = quoted(fixture_path("opt-tiny"));
  std::string output;
  const std::string generate = "generate --device cpu --model " + model + " --prompts " +
                               quoted(scratch / "p.jsonl") + " --max-new-tokens 24 --output " +
                               quoted(scratch / "out.jsonl");
  REQUIRE(run_alisa(generate + " --swa-sparsity 0.5 --swa-min-tokens 4 --swa-score decay "
                               "--swa-granularity head",
                    &output) == 0);
  const std::string text = read_text(scratch / "out.jsonl");
  CHECK(std::count(text.begin(), text.end(), '\n') == 2);
  write_text(scratch / "in.json", "{\"input_ids\": [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14]]}");
  const std::string forward =
      "forward --model " + model + " --input " + quoted(scratch / "in.json") + " --output ";
  REQUIRE(run_alisa(forward + quoted(scratch / "dense.safetensors"), &output) == 0);
  REQUIRE(run_alisa(forward + quoted(scratch / "all.safetensors") +
                        " --swa-sparsity 0.5 --swa-min-tokens 64",
                    &output) == 0);
  REQUIRE(run_alisa(forward + quoted(scratch / "sparse.safetensors") +
                        " --swa-sparsity 0.5 --swa-min-tokens 2",
                    &output) == 0);
  const auto logits = [&](const char* name) {
    const SafetensorsCheckpoint file = SafetensorsCheckpoint::open(scratch / name);
    const SafetensorsEntry& entry = file.at("logits");
    std::vector<float> values(static_cast<size_t>(entry.n_elements()));
    file.read_f32(entry, values.data());
    return values;
  };
  const std::vector<float> dense = logits("dense.safetensors");
  const std::vector<float> all = logits("all.safetensors");
  const std::vector<float> sparse = logits("sparse.safetensors");
  // Teacher forcing with every token attended is the one-prefill forward; leaving tokens out
  // is not.
  CHECK(compare(all.data(), dense.data(), dense.size(), 1e-5, 1e-5).ok());
  CHECK_FALSE(compare(sparse.data(), dense.data(), dense.size(), 1e-5, 1e-5).ok());
}

TEST_CASE("alisa calibrate names a bad model, and needs a GPU", "[e2e][cli][errors][calibrate]") {
  ScratchDir scratch;
  const std::string output = " --output " + quoted(scratch / "hardware" / "host.yaml");
  // The model list is checked first, on any machine: no measurement runs.
  require_user_error("calibrate" + output + " --models opt-6.7b,opt-7b", "'opt-7b'");
  if (gpu_available()) {
    WARN("a CUDA GPU is present: the no-GPU error of alisa calibrate is not checked");
    return;
  }
  require_user_error("calibrate" + output, "alisa calibrate needs a CUDA GPU: ");
  CHECK_FALSE(std::filesystem::exists(scratch / "hardware" / "host.yaml"));
}

}  // namespace alisa::test
