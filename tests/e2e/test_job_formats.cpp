// Batch-job formats and per-request settings (issue 19): OpenAI's Batch format in and out,
// checked against a written schema, bad lines as error records; settings per line mixed in one
// block give each request's tokens alone; stop strings and log-probabilities by hand and
// against the CPU engine.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "runtime/jobs/engine.h"
#include "tests/e2e/job_test_support.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string generate_args(const fs::path& in, const fs::path& out) {
  return "generate --device cpu --threads 1 --model " + demo_model_path("opt-code").string() +
         " --prompts " + in.string() + " --output " + out.string() + " --overwrite";
}

// Runs `lines` as a job; its records by id.
std::map<std::string, Json> run_job(const ScratchDir& scratch, const std::string& name,
                                    const std::vector<Json>& lines) {
  std::string text;
  for (const Json& line : lines) text += line.dump() + "\n";
  write_text(scratch / (name + ".jsonl"), text);
  std::string log;
  const int status =
      run_alisa(generate_args(scratch / (name + ".jsonl"), scratch / (name + ".out.jsonl")), &log);
  INFO(log);
  REQUIRE(status == 0);
  return records_by_id(scratch / (name + ".out.jsonl"));
}

}  // namespace

TEST_CASE("OpenAI Batch lines in, OpenAI Batch records out, bad lines as error records",
          "[e2e][jobs][openai]") {
  ScratchDir scratch;
  const auto request = [](const std::string& id, const Json& body) {
    return Json{{"custom_id", id}, {"method", "POST"}, {"url", "/v1/completions"}, {"body", body}};
  };
  Json chat = request("chat", {{"model", "m"}, {"messages", Json::array()}});
  chat["url"] = "/v1/chat/completions";
  std::string text;
  for (const Json& line :
       {request("a", {{"model", "opt-code"}, {"prompt", "def add(a, b):"}, {"max_tokens", 6}}),
        request("b", {{"prompt", "import os"},
                      {"max_tokens", 4},
                      {"temperature", 0.7},
                      {"seed", 11},
                      {"logprobs", 2}}),
        chat, request("a", {{"prompt", "x"}}),
        request("unknown", {{"prompt", "x"}, {"frobnicate", 1}}),
        request("long", {{"prompt", "x"}, {"max_tokens", 100000}}),
        request("stop", {{"prompt", "def main():"}, {"max_tokens", 12}, {"stop", "\n"}})}) {
    text += line.dump() + "\n";
  }
  text.insert(text.find("\n") + 1, "{\"custom_id\": \"torn\", \"method\": \n");
  write_text(scratch / "in.jsonl", text);
  std::string log;
  REQUIRE(run_alisa(generate_args(scratch / "in.jsonl", scratch / "out.jsonl"), &log) == 0);
  CHECK_THAT(log, Catch::Contains("5 of 8 lines were bad"));

  const Json schema =
      Json::parse(read_text(repo_dir() / "tests/e2e/schemas/openai_batch_output.json"));
  std::map<std::string, std::vector<Json>> by_id;
  for (const std::string& line : whole_lines(scratch / "out.jsonl")) {
    const Json record = Json::parse(line);
    INFO(line);
    CHECK(schema_violations(record, schema).empty());
    CHECK(record["response"].is_null() != record["error"].is_null());
    by_id[record["custom_id"].is_null() ? "null" : record["custom_id"].get<std::string>()]
        .push_back(record);
  }
  REQUIRE(by_id.size() == 7);
  const auto code = [&](const std::string& id, size_t i = 0) {
    return by_id.at(id).at(i)["error"]["code"].get<std::string>();
  };
  CHECK(code("null") == "invalid_json");
  CHECK(code("chat") == "unsupported_url");
  CHECK_THAT(by_id["chat"][0]["error"]["message"].get<std::string>(),
             Catch::Contains("chat templates"));
  CHECK(code("unknown") == "invalid_request");
  CHECK_THAT(by_id["unknown"][0]["error"]["message"].get<std::string>(),
             Catch::Contains("frobnicate"));
  CHECK(code("long") == "context_length_exceeded");
  REQUIRE(by_id["a"].size() == 2);  // the result and the repeat's error, in either order
  const bool result_first = by_id["a"][0]["error"].is_null();
  CHECK(code("a", result_first ? 1 : 0) == "duplicate_id");

  const Json& a = by_id["a"][result_first ? 0 : 1]["response"];
  CHECK(a["status_code"] == 200);
  CHECK(a["body"]["model"] == "opt-code");
  CHECK(a["body"]["usage"]["completion_tokens"].get<int>() <= 6);
  CHECK(a["body"]["usage"]["total_tokens"] ==
        a["body"]["usage"]["prompt_tokens"].get<int>() +
            a["body"]["usage"]["completion_tokens"].get<int>());
  const Json& b = by_id["b"][0]["response"]["body"]["choices"][0];
  REQUIRE(b["logprobs"].is_object());
  CHECK(b["logprobs"]["tokens"].size() ==
        by_id["b"][0]["response"]["body"]["usage"]["completion_tokens"]);
  CHECK(b["logprobs"]["top_logprobs"][0].size() <= 2);
  const Json& stop = by_id["stop"][0]["response"]["body"]["choices"][0];
  CHECK(stop["text"].get<std::string>().find('\n') == std::string::npos);
}

TEST_CASE("per-request settings in one block give each request's tokens alone",
          "[e2e][jobs][settings]") {
  ScratchDir scratch;
  const std::vector<Json> lines = {
      {{"id", "greedy"}, {"prompt", "def f(x):"}, {"max_tokens", 5}},
      {{"id", "topk"},
       {"prompt", "import numpy"},
       {"temperature", 0.9},
       {"top_k", 30},
       {"max_tokens", 7}},
      {{"id", "seeded"},
       {"prompt", "class Foo:"},
       {"temperature", 0.6},
       {"top_p", 0.8},
       {"seed", 42},
       {"max_tokens", 9}},
      {{"id", "logprobs"}, {"prompt_ids", {270, 423, 270}}, {"logprobs", 3}, {"max_tokens", 4}},
      {{"id", "long"}, {"prompt", "def main():"}, {"max_tokens", 12}}};
  const std::map<std::string, Json> together = run_job(scratch, "together", lines);
  REQUIRE(together.size() == lines.size());
  for (const Json& line : lines) {
    const std::map<std::string, Json> alone = run_job(scratch, "alone", {line});
    INFO(line.dump());
    // Tokens and text exactly; log-probabilities to float rounding (a batch's GEMMs may round
    // otherwise than one row's).
    Json a = alone.begin()->second;
    Json b = together.at(line["id"].dump());
    if (a.contains("logprobs")) {
      const Json& x = a["logprobs"]["token_logprobs"];
      const Json& y = b["logprobs"]["token_logprobs"];
      REQUIRE(x.size() == y.size());
      for (size_t i = 0; i < x.size(); ++i)
        CHECK(std::abs(x[i].get<double>() - y[i].get<double>()) < 1e-4);
      a.erase("logprobs");
      b.erase("logprobs");
    }
    CHECK(a == b);
  }
  CHECK(together.at("\"greedy\"")["token_ids"].size() == 5);
  CHECK(together.at("\"topk\"")["token_ids"].size() <= 7);
  // A request's own seed keys its stream, whatever its id and file.
  Json renamed = lines[2];
  renamed["id"] = "another-id";
  const std::map<std::string, Json> other = run_job(scratch, "other", {lines[0], renamed});
  CHECK(other.at("\"another-id\"")["token_ids"] == together.at("\"seeded\"")["token_ids"]);

  SECTION("a stop string ends the text before it") {
    const Json unstopped = together.at("\"long\"");
    const std::string text = unstopped["text"];
    REQUIRE(text.size() >= 6);
    const std::string stop = text.substr(3, 2);
    Json line = lines[4];
    line["stop"] = {"never there", stop};
    const Json stopped = run_job(scratch, "stop", {line}).begin()->second;
    CHECK(stopped["text"] == text.substr(0, text.find(stop)));
    CHECK(stopped["finish_reason"] == "stop");
    const std::vector<int32_t> all = unstopped["token_ids"];
    const std::vector<int32_t> some = stopped["token_ids"];
    REQUIRE(some.size() <= all.size());
    CHECK(std::equal(some.begin(), some.end(), all.begin()));
  }
  SECTION("log-probabilities are the CPU engine's log-softmax") {
    const Json record = together.at("\"logprobs\"");
    std::vector<int32_t> ids = {270, 423, 270};
    Engine engine({.model = demo_model_path("opt-code").string(),
                   .backend = {.device = DeviceChoice::kCpu, .n_threads = 1}});
    const int64_t vocab = engine.spec().vocab_size;
    for (size_t t = 0; t < record["token_ids"].size(); ++t) {
      const int64_t n = static_cast<int64_t>(ids.size());
      const std::vector<float> logits =
          engine.forward(ids, std::vector<uint8_t>(ids.size(), 1), 1, n);
      const float* row = &logits[static_cast<size_t>((n - 1) * vocab)];
      double sum = 0;
      const float max = *std::max_element(row, row + vocab);
      for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - max);
      const int32_t token = record["token_ids"][t];
      const double expected = row[token] - max - std::log(sum);
      CHECK(std::abs(record["logprobs"]["token_logprobs"][t].get<double>() - expected) < 1e-4);
      const Json& top = record["logprobs"]["top_logprobs"][t];
      REQUIRE(top.size() == 3);
      CHECK(top[0]["token_id"] == token);  // greedy: the likeliest
      CHECK(top[0]["logprob"].get<double>() >= top[1]["logprob"].get<double>());
      CHECK(top[1]["logprob"].get<double>() >= top[2]["logprob"].get<double>());
      ids.push_back(token);
    }
  }
}

}  // namespace alisa::test
