// Job files: texts to tokenize, forward-pass input JSON and the JSONL writer (batch-job lines
// are test_job_lines.cpp's).
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
using alisa::read_forward_input;
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

void require_forward_error(const std::string& text, const std::string& what) {
  ScratchDir dir;
  const fs::path path = write_file(dir, "forward.json", text);
  REQUIRE_THROWS_AS(read_forward_input(path), alisa::Error);
  REQUIRE_THROWS_WITH(read_forward_input(path), Contains(path.string()) && Contains(what));
}

}  // namespace

TEST_CASE("read_texts reads text lines", "[job_io]") {
  ScratchDir dir;
  const fs::path path = write_file(dir, "texts.jsonl", "{\"text\": \"a b\"}\n\n{\"text\": \"\"}\n");
  CHECK(alisa::read_texts(path) == std::vector<std::string>{"a b", ""});
  const fs::path bad = write_file(dir, "bad.jsonl", "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n");
  REQUIRE_THROWS_WITH(alisa::read_texts(bad), Contains(bad.string() + ":2"));
  const fs::path huge = write_file(dir, "huge.jsonl", "{\"text\": \"a\", \"n\": -1e999}\n");
  REQUIRE_THROWS_WITH(alisa::read_texts(huge), Contains(huge.string() + ":1: not valid JSON"));
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
  // Beyond double's range: nlohmann's out_of_range, not a parse_error.
  require_forward_error("{\"input_ids\": [[1, 1e999]]}", "not valid JSON");
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
