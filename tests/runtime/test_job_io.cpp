// Job files: prompts JSONL, forward-pass input JSON and the JSONL writer.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/base/common.h"
#include "runtime/jobs/job_io.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using alisa::ForwardInput;
using alisa::PromptRecord;
using alisa::read_forward_input;
using alisa::read_prompts;
using alisa::test::read_text;
using alisa::test::ScratchDir;
using alisa::test::write_text;
using Catch::Contains;
using Json = nlohmann::json;

namespace {

fs::path write_file(const ScratchDir& dir, const std::string& name, const std::string& text) {
  const fs::path path = dir / name;
  write_text(path, text);
  return path;
}

// read_prompts must fail with an alisa::Error whose message contains `where` and `what`.
void require_prompts_error(const std::string& text, const std::string& where,
                           const std::string& what) {
  ScratchDir dir;
  const fs::path path = write_file(dir, "prompts.jsonl", text);
  REQUIRE_THROWS_AS(read_prompts(path), alisa::Error);
  REQUIRE_THROWS_WITH(read_prompts(path), Contains(path.string() + where) && Contains(what));
}

void require_forward_error(const std::string& text, const std::string& what) {
  ScratchDir dir;
  const fs::path path = write_file(dir, "forward.json", text);
  REQUIRE_THROWS_AS(read_forward_input(path), alisa::Error);
  REQUIRE_THROWS_WITH(read_forward_input(path), Contains(path.string()) && Contains(what));
}

}  // namespace

TEST_CASE("read_prompts reads text and token-id prompts", "[job_io]") {
  ScratchDir dir;
  const fs::path path = write_file(dir, "prompts.jsonl",
                                   "{\"id\": \"first\", \"prompt\": \"Hello, world\"}\n"
                                   "\n"
                                   "   \t\n"
                                   "{\"id\": 7, \"prompt_ids\": [2, 0, 31414, 2147483647]}\n"
                                   "{\"prompt\": \"no id \\u00e9\"}\r\n"
                                   "{\"id\": {\"run\": 1, \"tags\": [\"a\"]}, \"prompt\": \"\"}\n"
                                   "{\"id\": null, \"prompt_ids\": []}\n"
                                   "{\"id\": 2.5, \"prompt\": \"x\"}");  // no final newline
  const std::vector<PromptRecord> records = read_prompts(path);
  REQUIRE(records.size() == 6);

  CHECK(records[0].id == "first");
  CHECK(records[0].text == "Hello, world");
  CHECK_FALSE(records[0].ids.has_value());
  CHECK(records[0].line == 1);

  CHECK(records[1].id == 7);
  CHECK_FALSE(records[1].text.has_value());
  CHECK(records[1].ids == std::vector<int32_t>{2, 0, 31414, 2147483647});
  CHECK(records[1].line == 4);  // blank lines are skipped but still counted

  CHECK(records[2].id.is_null());
  CHECK(records[2].text == "no id \xc3\xa9");
  CHECK(records[2].line == 5);

  CHECK(records[3].id == Json{{"run", 1}, {"tags", {"a"}}});
  CHECK(records[3].text == "");

  CHECK(records[4].id.is_null());
  CHECK(records[4].ids == std::vector<int32_t>{});

  CHECK(records[5].id == 2.5);
  CHECK(records[5].line == 8);
}

TEST_CASE("read_prompts errors name file:line", "[job_io]") {
  const std::string good = "{\"prompt\": \"ok\"}\n";
  SECTION("bad JSON") {
    require_prompts_error(good + "\n{\"prompt\": \"unterminated}\n", ":3", "not valid JSON");
    require_prompts_error("[1, 2]\n", ":1", "expected a JSON object");
    require_prompts_error("\"just a string\"\n", ":1", "expected a JSON object");
  }
  SECTION("both or neither of prompt and prompt_ids") {
    require_prompts_error(good + "{\"prompt\": \"a\", \"prompt_ids\": [1]}\n", ":2",
                          "exactly one of 'prompt' and 'prompt_ids'");
    require_prompts_error("{\"id\": 1}\n", ":1", "exactly one of 'prompt' and 'prompt_ids'");
  }
  SECTION("unknown key") {
    require_prompts_error(good + good + "{\"prompt\": \"a\", \"text\": \"b\"}\n", ":3",
                          "unknown key 'text'");
  }
  SECTION("wrong types and bad ids") {
    require_prompts_error("{\"prompt\": 5}\n", ":1", "'prompt' must be a string");
    require_prompts_error("{\"prompt_ids\": \"1 2 3\"}\n", ":1",
                          "'prompt_ids' must be a list of token ids");
    require_prompts_error("{\"prompt_ids\": [1, -2, 3]}\n", ":1",
                          "'prompt_ids' must hold non-negative integers, found -2");
    require_prompts_error("{\"prompt_ids\": [1.5]}\n", ":1", "found 1.5");
    require_prompts_error("{\"prompt_ids\": [\"1\"]}\n", ":1", "non-negative integers");
    require_prompts_error("{\"prompt_ids\": [2147483648]}\n", ":1", "found 2147483648");
    require_prompts_error("{\"prompt_ids\": [18446744073709551615]}\n", ":1",
                          "non-negative integers");
  }
  SECTION("empty file") {
    ScratchDir dir;
    for (const char* text : {"", "\n\n  \n"}) {
      const fs::path path = write_file(dir, "empty.jsonl", text);
      REQUIRE_THROWS_AS(read_prompts(path), alisa::Error);
      REQUIRE_THROWS_WITH(read_prompts(path), Contains(path.string()) && Contains("no prompts"));
    }
  }
  SECTION("missing file") {
    ScratchDir dir;
    REQUIRE_THROWS_WITH(read_prompts(dir / "absent.jsonl"),
                        Contains((dir / "absent.jsonl").string()) && Contains("cannot read"));
  }
}

TEST_CASE("read_texts reads text lines", "[job_io]") {
  ScratchDir dir;
  const fs::path path = write_file(dir, "texts.jsonl", "{\"text\": \"a b\"}\n\n{\"text\": \"\"}\n");
  CHECK(alisa::read_texts(path) == std::vector<std::string>{"a b", ""});
  const fs::path bad = write_file(dir, "bad.jsonl", "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n");
  REQUIRE_THROWS_WITH(alisa::read_texts(bad), Contains(bad.string() + ":2"));
}

TEST_CASE("read_forward_input reads ids and an optional mask", "[job_io]") {
  ScratchDir dir;
  SECTION("mask given") {
    const fs::path path = write_file(
        dir, "forward.json",
        "{\"input_ids\": [[1, 2, 3], [0, 0, 9]], \"attention_mask\": [[1, 1, 1], [0, 0, 1]]}");
    const ForwardInput input = read_forward_input(path);
    CHECK(input.batch == 2);
    CHECK(input.seq_len == 3);
    CHECK(input.input_ids == std::vector<int32_t>{1, 2, 3, 0, 0, 9});
    CHECK(input.attention_mask == std::vector<uint8_t>{1, 1, 1, 0, 0, 1});
  }
  SECTION("mask absent: all ones") {
    const fs::path path = write_file(dir, "forward.json", "{\"input_ids\": [[5, 6], [7, 8]]}");
    const ForwardInput input = read_forward_input(path);
    CHECK(input.batch == 2);
    CHECK(input.seq_len == 2);
    CHECK(input.input_ids == std::vector<int32_t>{5, 6, 7, 8});
    CHECK(input.attention_mask == std::vector<uint8_t>{1, 1, 1, 1});
  }
}

TEST_CASE("read_forward_input errors name the file and the row", "[job_io]") {
  require_forward_error("{\"input_ids\": [[1, 2, 3], [4, 5]]}",
                        "input_ids[1]: every row must have the same non-zero length");
  require_forward_error("{\"input_ids\": [[]]}", "input_ids[0]: every row must have");
  require_forward_error("{\"input_ids\": [[1, 2]], \"attention_mask\": [[1, 2]]}",
                        "attention_mask holds 0 or 1 only");
  require_forward_error("{\"input_ids\": [[1, 2]], \"attention_mask\": [[1]]}",
                        "attention_mask[0] has 1 entries, input_ids has 2");
  require_forward_error("{\"input_ids\": [[1, 2]], \"attention_mask\": [[1, 1], [1, 1]]}",
                        "one row per 'input_ids' row");
  require_forward_error("{\"input_ids\": [[1, -2]]}", "input_ids[0]");
  require_forward_error("{\"input_ids\": []}", "'input_ids' is empty");
  require_forward_error("{\"tokens\": [[1]]}", "expected an object with 'input_ids'");
  require_forward_error("{\"input_ids\": [[1, 2]", "not valid JSON");
}

TEST_CASE("JsonlWriter writes one object per line to a file", "[job_io]") {
  ScratchDir dir;
  const fs::path path = dir / "out.jsonl";
  write_text(path, "old contents that must go\n");
  {
    alisa::JsonlWriter writer(path);
    writer.write(Json{{"id", "a"}, {"tokens", {1, 2, 3}}});
    writer.write(Json{{"id", 2}, {"text", "line\nbreak \xff"}});  // invalid UTF-8 is replaced
    writer.close();
  }
  const std::string text = read_text(path);
  CHECK(text ==
        "{\"id\":\"a\",\"tokens\":[1,2,3]}\n"
        "{\"id\":2,\"text\":\"line\\nbreak \xef\xbf\xbd\"}\n");

  REQUIRE_THROWS_AS(alisa::JsonlWriter(dir / "no" / "such" / "dir.jsonl"), alisa::Error);
  REQUIRE_THROWS_WITH(alisa::JsonlWriter(dir / "no" / "such" / "dir.jsonl"),
                      Contains("cannot write") && Contains("dir.jsonl"));
}
