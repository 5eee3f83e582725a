// Batch-job files piece by piece: lines of both formats (good and bad), shards, the output's
// resume scan and torn-line repair, the recorded settings, and log-probabilities by hand.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "runtime/base/common.h"
#include "runtime/jobs/generator.h"
#include "runtime/jobs/id_set.h"
#include "runtime/jobs/job_output.h"
#include "runtime/jobs/job_requests.h"
#include "runtime/jobs/job_settings.h"
#include "tests/test_support.h"

namespace alisa {
namespace {

namespace fs = std::filesystem;
using Catch::Contains;
using Json = nlohmann::json;
using test::read_text;
using test::ScratchDir;
using test::write_text;

JobLine alisa_line(const std::string& text, int64_t number = 3) {
  return parse_job_line(text, number, JobFormat::kAlisa);
}

JobLine openai_line(const Json& body, const std::string& url = "/v1/completions") {
  return parse_job_line(
      Json{{"custom_id", "r1"}, {"method", "POST"}, {"url", url}, {"body", body}}.dump(), 1,
      JobFormat::kOpenAi);
}

// The line is bad with this code, and its reason mentions `what`.
void require_bad(const JobLine& line, const std::string& code, const std::string& what) {
  INFO(line.error);
  CHECK(line.error_code == code);
  CHECK_THAT(line.error, Contains(what));
}

}  // namespace

TEST_CASE("alisa's lines: prompt or prompt_ids, an id, settings of their own", "[jobs]") {
  const JobLine line = alisa_line(
      R"({"id": {"run": 1}, "prompt": "Hello \u00e9", "max_tokens": 5, "temperature": 0.5,
          "top_p": 0.9, "top_k": -1, "seed": 7, "stop": ["\n", "##"], "logprobs": 2})");
  REQUIRE(line.ok());
  CHECK(line.id == Json{{"run", 1}});
  CHECK(line.text == "Hello \xc3\xa9");
  CHECK(line.settings.max_tokens == 5);
  CHECK(line.settings.temperature == 0.5f);
  CHECK(line.settings.top_p == 0.9f);
  CHECK(line.settings.top_k == 0);  // vLLM's -1 is alisa's 0: off
  CHECK(line.settings.seed == 7u);
  CHECK(line.settings.stop == std::vector<std::string>{"\n", "##"});
  CHECK(line.settings.logprobs == 2);

  const JobLine ids = alisa_line(R"({"prompt_ids": [2, 0, 2147483647], "id": null})", 9);
  REQUIRE(ids.ok());
  CHECK(ids.id == 9);  // no id: the line number
  CHECK(ids.ids == std::vector<int32_t>{2, 0, 2147483647});
  CHECK_FALSE(ids.settings.max_tokens.has_value());
}

TEST_CASE("bad lines become errors with a code, not exceptions", "[jobs]") {
  require_bad(alisa_line("{\"prompt\": \"unterminated}"), "invalid_json", "not valid JSON");
  CHECK(alisa_line("{oops").id.is_null());
  require_bad(alisa_line("[1, 2]"), "invalid_json", "expected a JSON object");
  // A number beyond double's range is nlohmann's out_of_range, not a parse_error.
  require_bad(alisa_line(R"({"prompt": "a", "max_tokens": 1e999})"), "invalid_json",
              "number overflow");
  require_bad(alisa_line(R"({"prompt": "a", "prompt_ids": [1]})"), "invalid_request",
              "exactly one of 'prompt' and 'prompt_ids'");
  require_bad(alisa_line(R"({"id": 1})"), "invalid_request", "exactly one of");
  CHECK(alisa_line(R"({"id": 1})").id == 1);  // a bad line's record still names it
  require_bad(alisa_line(R"({"prompt": "a", "text": "b"})"), "invalid_request",
              "unknown key 'text'");
  require_bad(alisa_line(R"({"prompt": 5})"), "invalid_request", "'prompt' must be a string");
  require_bad(alisa_line(R"({"prompt_ids": [1, -2]})"), "invalid_request", "got -2");
  require_bad(alisa_line(R"({"prompt_ids": [1.5]})"), "invalid_request", "must be an integer");
  require_bad(alisa_line(R"({"prompt_ids": [2147483648]})"), "invalid_request", "2147483648");
  require_bad(alisa_line(R"({"prompt": "a", "temperature": -1})"), "invalid_request",
              "temperature");
  require_bad(alisa_line(R"({"prompt": "a", "top_p": 0})"), "invalid_request", "top_p");
  require_bad(alisa_line(R"({"prompt": "a", "max_tokens": 0})"), "invalid_request", "max_tokens");
  require_bad(alisa_line(R"({"prompt": "a", "logprobs": 21})"), "invalid_request", "logprobs");
  require_bad(alisa_line(R"({"prompt": "a", "stop": [""]})"), "invalid_request", "stop");
  require_bad(alisa_line(R"({"prompt": "a", "stop": 3})"), "invalid_request", "stop");
}

TEST_CASE("OpenAI Batch lines for /v1/completions", "[jobs][openai]") {
  const JobLine good = openai_line({{"model", "opt-code"},
                                    {"prompt", "def f():"},
                                    {"max_tokens", 16},
                                    {"temperature", 1},
                                    {"stop", "\n"},
                                    {"n", 1},
                                    {"echo", false},
                                    {"user", "someone"},
                                    {"logprobs", nullptr}});
  REQUIRE(good.ok());
  CHECK(good.id == "r1");
  CHECK(good.model == "opt-code");
  CHECK(good.text == "def f():");
  CHECK(good.settings.max_tokens == 16);
  CHECK(good.settings.stop == std::vector<std::string>{"\n"});
  CHECK_FALSE(good.settings.logprobs.has_value());
  CHECK(openai_line({{"prompt", {5, 6}}}).ids == std::vector<int32_t>{5, 6});
  CHECK(openai_line({{"prompt", {"one"}}}).text == "one");

  const JobLine chat = openai_line({{"messages", Json::array()}}, "/v1/chat/completions");
  require_bad(chat, "unsupported_url", "chat templates");
  CHECK(chat.id == "r1");
  require_bad(openai_line({{"prompt", "a"}}, "/v1/embeddings"), "unsupported_url",
              "/v1/embeddings");
  require_bad(openai_line({{"prompt", "a"}, {"n", 2}}), "invalid_request", "'n'");
  require_bad(openai_line({{"prompt", "a"}, {"frobnicate", 1}}), "invalid_request", "'frobnicate'");
  require_bad(openai_line({{"prompt", {"a", "b"}}}), "invalid_request", "one prompt per line");
  require_bad(openai_line({{"model", "m"}}), "invalid_request", "no 'prompt'");
  require_bad(parse_job_line(R"({"custom_id": 5, "method": "POST"})", 1, JobFormat::kOpenAi),
              "invalid_request", "custom_id");
}

TEST_CASE("a job file's format is its first line's; shards take every Nth line", "[jobs]") {
  ScratchDir dir;
  write_text(dir / "openai.jsonl", "\n" +
                                       Json{{"custom_id", "a"},
                                            {"method", "POST"},
                                            {"url", "/v1/completions"},
                                            {"body", {{"prompt", "x"}}}}
                                           .dump() +
                                       "\n{\"id\": 1, \"prompt\": \"alisa's\"}\n");
  JobReader openai(dir / "openai.jsonl", {});
  CHECK(openai.format() == JobFormat::kOpenAi);
  JobLine line;
  REQUIRE(openai.next(line));
  CHECK(line.ok());
  CHECK(line.line == 2);
  REQUIRE(openai.next(line));
  CHECK_FALSE(line.ok());  // an alisa line in an OpenAI file
  CHECK_FALSE(openai.next(line));

  std::string text;
  for (int i = 1; i <= 7; ++i) text += "{\"prompt\": \"p" + std::to_string(i) + "\"}\n";
  write_text(dir / "lines.jsonl", text);
  const Shard shard = parse_shard("2/3");
  JobReader reader(dir / "lines.jsonl", shard);
  CHECK(reader.format() == JobFormat::kAlisa);
  std::vector<int64_t> lines;
  while (reader.next(line)) lines.push_back(line.line);
  CHECK(lines == std::vector<int64_t>{2, 5});
  for (const char* bad : {"0/3", "4/3", "3", "a/b", "1/0", "1/3x"}) {
    CHECK_THROWS_WITH(parse_shard(bad), Contains(std::string("--shard '") + bad));
  }
  CHECK_THROWS_WITH(JobReader(dir / "absent.jsonl", {}), Contains("absent.jsonl does not exist"));
}

TEST_CASE("resume reads the output's ids and cuts off a torn last line", "[jobs][resume]") {
  ScratchDir dir;
  const fs::path out = dir / "out.jsonl";
  {
    JobOutput output(out, /*keep=*/false);
    output.write({{"id", "a"}, {"token_ids", {1}}});
    output.write({{"id", 7}, {"error", {{"code", "invalid_request"}, {"message", "m"}}}});
    output.write({{"id", "a"}, {"error", {{"code", "duplicate_id"}, {"message", "m"}}}});
    output.write({{"id", nullptr}, {"error", {{"code", "invalid_json"}, {"message", "m"}}}});
    output.write({{"custom_id", "b"}, {"response", nullptr}, {"error", nullptr}});
    output.sync();
  }
  const std::string whole = read_text(out);
  write_text(out, whole + "{\"id\": \"c\", \"tok");
  const WrittenRecords written = scan_output(out);
  CHECK(written.lines == 5);
  CHECK(written.repaired_bytes == 16);
  CHECK(read_text(out) == whole);
  CHECK(written.done.size() == 3);
  for (const Json& id : {Json("a"), Json(7), Json("b")}) CHECK(written.done.contains(id_hash(id)));
  CHECK(written.repeats.at(id_hash("a")) == 1);
  CHECK(written.repeats.at(id_hash(nullptr)) == 1);

  // A line the job wrote whole but that is not a record: the file is not this job's output.
  write_text(out, "{\"id\": 1}\nnot json\n{\"id\": 2}\n");
  CHECK_THROWS_WITH(scan_output(out), Contains("out.jsonl:2 is not a job record"));
  // Kept lines are appended to.
  write_text(out, "{\"id\": 1}\n");
  JobOutput(out, /*keep=*/true).write({{"id", 2}});
  CHECK(read_text(out) == "{\"id\": 1}\n{\"id\":2}\n");
}

TEST_CASE("IdSet holds every id once, across its merges", "[jobs]") {
  IdSet set;
  for (uint64_t i = 0; i < 20000; ++i) CHECK(set.insert(i * 7919 % 20011));
  CHECK(set.size() == 20000);
  for (uint64_t i = 0; i < 20000; i += 97) CHECK_FALSE(set.insert(i * 7919 % 20011));
  CHECK(set.contains(0));
  int absent = 0;
  for (uint64_t v = 0; v < 20011; ++v) absent += !set.contains(v);
  CHECK(absent == 11);
}

TEST_CASE("ids hash by their JSON text: 1 and \"1\" are different requests", "[jobs]") {
  CHECK(id_hash(1) != id_hash("1"));
  CHECK(id_hash(Json::parse(R"({"b": 1, "a": 2})")) == id_hash(Json{{"a", 2}, {"b", 1}}));
  CHECK(sampling_key(0, id_hash("x")) != sampling_key(1, id_hash("x")));
}

TEST_CASE("recorded settings: a resume with others is refused naming each", "[jobs][resume]") {
  ScratchDir dir;
  const fs::path out = dir / "out.jsonl";
  const Json settings = {{"model", "m"}, {"temperature", 0.5}, {"swa", {{"sparsity", nullptr}}}};
  const int64_t created = record_settings(out, settings, /*resume=*/false);
  CHECK(created > 1700000000);
  CHECK(record_settings(out, settings, /*resume=*/true) == created);
  Json other = settings;
  other["temperature"] = 0.7;
  other["swa"]["sparsity"] = 0.8;
  CHECK_THROWS_WITH(record_settings(out, other, true),
                    Contains("swa: recorded {\"sparsity\":null}, now {\"sparsity\":0.8}; "
                             "temperature: recorded 0.5, now 0.7") &&
                        Contains("--overwrite"));
  fs::remove(settings_path(out));
  CHECK_THROWS_WITH(record_settings(out, settings, true), Contains("not written by an alisa job"));
}

TEST_CASE("log-probabilities of a row of logits, by hand", "[jobs]") {
  // Probabilities 0.1, 0.2, 0.3, 0.4 (up to a shift that log-softmax removes).
  const std::vector<float> logits = {std::log(1.0f) + 3, std::log(2.0f) + 3, std::log(3.0f) + 3,
                                     std::log(4.0f) + 3};
  const StepLogprobs lp = step_logprobs(logits.data(), 4, 1, 2);
  CHECK(lp.logprob == Approx(std::log(0.2)).epsilon(1e-6));
  REQUIRE(lp.top.size() == 2);
  CHECK(lp.top[0].token == 3);
  CHECK(lp.top[0].logprob == Approx(std::log(0.4)).epsilon(1e-6));
  CHECK(lp.top[1].token == 2);
  CHECK(step_logprobs(logits.data(), 4, 0, 0).top.empty());
  // Ties go to the lower id, as greedy decoding's choice.
  const std::vector<float> tied = {0, 2, 2, 1};
  CHECK(step_logprobs(tied.data(), 4, 2, 1).top[0].token == 1);
}

}  // namespace alisa
