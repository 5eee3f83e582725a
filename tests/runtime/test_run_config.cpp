// The run YAML: typed keys, paths resolved against the file's folder, merge(), and errors that
// name the file and the key.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "runtime/base/common.h"
#include "runtime/jobs/run_config.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using alisa::load_run_config;
using alisa::RunConfig;
using alisa::test::ScratchDir;
using alisa::test::write_text;
using Catch::Contains;

namespace {

// Writes `yaml` to <dir>/sub/run.yaml and returns its path.
fs::path write_yaml(const ScratchDir& dir, const std::string& yaml) {
  fs::create_directories(dir / "sub");
  const fs::path path = dir / "sub" / "run.yaml";
  write_text(path, yaml);
  return path;
}

// Loading must fail with an alisa::Error naming the file and matching `matcher`.
template <typename Matcher>
void require_yaml_error(const std::string& yaml, const Matcher& matcher) {
  ScratchDir dir;
  const fs::path path = write_yaml(dir, yaml);
  REQUIRE_THROWS_AS(load_run_config(path), alisa::Error);
  REQUIRE_THROWS_WITH(load_run_config(path), Contains(path.string()) && matcher);
}

}  // namespace

TEST_CASE("run YAML keys are parsed with their types", "[run_config]") {
  ScratchDir dir;
  const fs::path path = write_yaml(dir,
                                   "# a generate job\n"
                                   "model: dummy:opt-125m\n"
                                   "prompts: prompts.jsonl\n"
                                   "output: ../out/generations.jsonl\n"
                                   "tokenizer: /abs/tokenizer.json\n"
                                   "max_new_tokens: 64\n"
                                   "temperature: 0.7\n"
                                   "top_p: 0.9\n"
                                   "top_k: 40\n"
                                   "seed: 18446744073709551615\n"
                                   "batch_size: 4\n"
                                   "stop_at_eos: false\n"
                                   "threads: 2\n"
                                   "cpu_memory_limit: 14.5GiB\n"
                                   "dummy_seed: 99\n");
  const RunConfig config = load_run_config(path);
  CHECK(config.model == "dummy:opt-125m");  // kept as is, not a path
  CHECK(config.prompts == (dir.path() / "sub" / "prompts.jsonl").lexically_normal().string());
  CHECK(config.output == (dir.path() / "out" / "generations.jsonl").lexically_normal().string());
  CHECK(config.tokenizer == "/abs/tokenizer.json");
  CHECK(config.max_new_tokens == 64);
  REQUIRE(config.temperature.has_value());
  CHECK(*config.temperature == 0.7f);
  REQUIRE(config.top_p.has_value());
  CHECK(*config.top_p == 0.9f);
  CHECK(config.top_k == 40);
  CHECK(config.seed == 18446744073709551615ull);
  CHECK(config.batch_size == 4);
  CHECK(config.stop_at_eos == false);
  CHECK(config.threads == 2);
  CHECK(config.cpu_memory_limit == 14ull * 1024 * 1024 * 1024 + 512ull * 1024 * 1024);
  CHECK(config.dummy_seed == 99u);
}

TEST_CASE("run YAML paths resolve against the YAML's folder", "[run_config]") {
  ScratchDir dir;
  const fs::path path = write_yaml(dir,
                                   "model: ../models/opt-tiny\n"
                                   "prompts: ./data/p.jsonl\n"
                                   "output: '-'\n"
                                   "cpu_memory_limit: 1048576\n");
  const RunConfig config = load_run_config(path);
  CHECK(config.model == (dir.path() / "models" / "opt-tiny").lexically_normal().string());
  CHECK(fs::path(*config.model).is_absolute());
  CHECK(config.prompts == (dir.path() / "sub" / "data" / "p.jsonl").string());
  CHECK(config.output == "-");  // stdout, not a file named '-'
  CHECK(config.cpu_memory_limit == 1048576u);
  CHECK_FALSE(config.tokenizer.has_value());
  CHECK_FALSE(config.seed.has_value());
}

TEST_CASE("an empty run YAML sets nothing", "[run_config]") {
  ScratchDir dir;
  const RunConfig config = load_run_config(write_yaml(dir, "# nothing here\n"));
  CHECK_FALSE(config.model.has_value());
  CHECK_FALSE(config.max_new_tokens.has_value());
  CHECK_FALSE(config.cpu_memory_limit.has_value());
}

TEST_CASE("merge lets set fields override and keeps the rest", "[run_config]") {
  RunConfig base;
  base.model = "dummy:opt-125m";
  base.prompts = "/data/prompts.jsonl";
  base.max_new_tokens = 16;
  base.temperature = 0.5f;
  base.stop_at_eos = true;
  base.cpu_memory_limit = 1024;

  RunConfig flags;
  flags.max_new_tokens = 8;
  flags.stop_at_eos = false;  // a set false must override a true
  flags.seed = 3;
  flags.output = "out.jsonl";

  RunConfig merged = base;
  merged.merge(flags);
  CHECK(merged.model == "dummy:opt-125m");
  CHECK(merged.prompts == "/data/prompts.jsonl");
  CHECK(merged.max_new_tokens == 8);
  CHECK(merged.temperature == 0.5f);
  CHECK(merged.stop_at_eos == false);
  CHECK(merged.seed == 3u);
  CHECK(merged.output == "out.jsonl");
  CHECK(merged.cpu_memory_limit == 1024u);
  CHECK_FALSE(merged.top_k.has_value());

  RunConfig unchanged = base;
  unchanged.merge(RunConfig{});
  CHECK(unchanged.model == base.model);
  CHECK(unchanged.max_new_tokens == 16);
  CHECK(unchanged.stop_at_eos == true);
}

TEST_CASE("run YAML errors name the file and the key", "[run_config]") {
  SECTION("unknown key lists the known ones") {
    require_yaml_error("model: dummy:opt-125m\nmax_tokens: 5\n",
                       Contains("unknown key 'max_tokens'") && Contains("max_new_tokens") &&
                           Contains("cpu_memory_limit"));
  }
  SECTION("wrong types") {
    require_yaml_error("max_new_tokens: many\n",
                       Contains("'max_new_tokens' must be an integer") && Contains("'many'"));
    require_yaml_error("threads: 2.5\n", Contains("'threads' must be an integer"));
    require_yaml_error("temperature: hot\n", Contains("'temperature' must be a number"));
    require_yaml_error("stop_at_eos: maybe\n", Contains("'stop_at_eos' must be true or false"));
    require_yaml_error("seed: -1\n", Contains("'seed' must be a non-negative integer"));
    require_yaml_error("model: [a, b]\n", Contains("'model' must be a folder or dummy:NAME"));
    require_yaml_error("prompts:\n  file: a.jsonl\n", Contains("'prompts' must be a path"));
    require_yaml_error("cpu_memory_limit: 5 parsecs\n",
                       Contains("'cpu_memory_limit'") && Contains("unknown unit 'parsecs'"));
    require_yaml_error("cpu_memory_limit: -1GiB\n",
                       Contains("'cpu_memory_limit'") && Contains("not a byte size"));
  }
  SECTION("a key that is not a plain name") {
    require_yaml_error("model: dummy:opt-125m\n? [a, b]\n: 1\n",
                       Contains("line 2") && Contains("a key must be a plain name"));
  }
  SECTION("malformed YAML") {
    require_yaml_error("model: dummy:opt-125m\nprompts: [unclosed\n",
                       Contains("not valid YAML") && Contains("line "));
  }
  SECTION("not a mapping") {
    require_yaml_error("- model\n- prompts\n", Contains("expected a mapping of settings"));
    require_yaml_error("just a string\n", Contains("expected a mapping of settings"));
  }
  SECTION("missing file") {
    ScratchDir dir;
    REQUIRE_THROWS_AS(load_run_config(dir / "absent.yaml"), alisa::Error);
    REQUIRE_THROWS_WITH(load_run_config(dir / "absent.yaml"),
                        Contains((dir / "absent.yaml").string()) && Contains("does not exist"));
  }
}

TEST_CASE("the swa mapping sets Sparse Window Attention's options", "[run_config][swa]") {
  ScratchDir dir;
  const fs::path path = write_yaml(dir,
                                   "model: dummy:opt-125m\n"
                                   "swa:\n"
                                   "  sparsity: 0.8\n"
                                   "  window_max: 16\n"
                                   "  granularity: head\n"
                                   "  score: decay\n"
                                   "  min_tokens: 8\n"
                                   "  gamma: 0.9\n");
  const alisa::SwaOptions swa = alisa::swa_options(load_run_config(path), "swa");
  CHECK(swa.sparsity == 0.8);
  CHECK(swa.window_max == 16);
  CHECK(swa.granularity == alisa::SwaGranularity::kHead);
  CHECK(swa.score == alisa::SwaScore::kDecay);
  CHECK(swa.min_tokens == 8);
  CHECK(swa.gamma == 0.9);
  // Nothing set: dense.
  CHECK_FALSE(alisa::swa_options(RunConfig{}, "swa").enabled());
}

TEST_CASE("swa mapping errors name the file and the option", "[run_config][swa]") {
  require_yaml_error("swa: 0.8\n", Contains("'swa'") && Contains("expected a mapping"));
  require_yaml_error("swa:\n  sparsity: lots\n", Contains("'sparsity' must be a number"));
  require_yaml_error("swa:\n  score: best\n",
                     Contains("swa score must be window, decay, history or recent"));
  require_yaml_error("swa:\n  granularity: token\n", Contains("layer or head"));
  require_yaml_error("swa:\n  windows: 3\n",
                     Contains("unknown key 'windows'") && Contains("window_max"));
  ScratchDir dir;
  const fs::path path = write_yaml(dir, "swa:\n  sparsity: 1.2\n");
  CHECK_THROWS_WITH(alisa::swa_options(load_run_config(path), path.string()),
                    Contains(path.string()) && Contains("sparsity must be in [0, 1)"));
}

TEST_CASE("a run config written back as YAML reads back the same", "[run_config]") {
  ScratchDir dir;
  const RunConfig config = load_run_config(write_yaml(dir,
                                                      "model: dummy:opt-125m\n"
                                                      "prompts: prompts.jsonl\n"
                                                      "temperature: 0.7\n"
                                                      "seed: 18446744073709551615\n"
                                                      "stop_at_eos: false\n"
                                                      "cpu_memory_limit: 14.5GiB\n"
                                                      "policy: auto\n"
                                                      "swa:\n"
                                                      "  sparsity: 0.8\n"
                                                      "  score: history\n"));
  const nlohmann::json json = alisa::run_config_json(config);
  // Dotted swa keys, resolved paths, bytes, and floats as written.
  CHECK(json["swa.sparsity"] == 0.8);
  CHECK(json["swa.score"] == "history");
  CHECK(json["prompts"] == (dir.path() / "sub" / "prompts.jsonl").lexically_normal().string());
  CHECK(json["cpu_memory_limit"] == 14ull * 1024 * 1024 * 1024 + 512ull * 1024 * 1024);
  CHECK(json["temperature"] == 0.7);
  CHECK_FALSE(json.contains("output"));  // unset keys are left out

  const fs::path again = dir / "again.yaml";
  write_text(again, alisa::run_config_yaml(config));
  CHECK(alisa::run_config_json(load_run_config(again)) == json);
}
