#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/text/byte_level.h"
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

std::filesystem::path fixture_file() {
  return alisa::test::fixture_path("tokenizer-bytelevel") / "tokenizer.json";
}

const Tokenizer& fixture_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::load(fixture_file());
  return tokenizer;
}

Json fixture_json() {
  return Json::parse(alisa::test::read_text(fixture_file()));
}

Ids concat(std::initializer_list<Ids> parts) {
  Ids all;
  for (const Ids& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

// A hand-written byte-level BPE: single characters a b c t and Ġ (space), plus `extra`.
Json small_tokenizer(const Json& merges, const Json& extra_vocab = Json::object()) {
  Json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"t", 3}, {"Ġ", 4}};
  vocab.update(extra_vocab);
  return {
      {"version", "1.0"},
      {"added_tokens", Json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"vocab", vocab}, {"merges", merges}}},
  };
}

Json added_token(int id, const std::string& content, bool special) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", special}};
}

}  // namespace

TEST_CASE("Tokenizer matches Hugging Face on every fixture case", "[tokenizer]") {
  const Tokenizer& tokenizer = fixture_tokenizer();
  const Json cases = Json::parse(
      alisa::test::read_text(alisa::test::fixture_path("tokenizer-bytelevel") / "cases.json"));
  REQUIRE(cases.size() > 0);
  for (const Json& example : cases) {
    const auto text = example.at("text").get<std::string>();
    const auto ids = example.at("ids").get<Ids>();
    INFO("text: " << text);
    CHECK(tokenizer.encode(text) == ids);
    CHECK(tokenizer.decode(ids) == example.at("decoded").get<std::string>());
  }
}

TEST_CASE("Tokenizer round-trips assorted text", "[tokenizer]") {
  const Tokenizer& tokenizer = fixture_tokenizer();
  const std::vector<std::string> texts = {
      "👍🏽 family: 👨‍👩‍👧 🇫🇷",
      "日本語のテキスト、中文。한국어",
      "e\u0301 a\u0308 n\u0303o combining marks",
      "नमस्ते दुनिया, مرحبا بالعالم",
      "\r\n",
      "a\r\n\r\nb\r",
      std::string(37, ' ') + "x" + std::string(20, ' '),
      "digits 0123456789 3.14159 1,000,000 ٣٤٥ ½",
      "don't I'm we'll they've she'd you're it's 's 'S O'Neil ''quoted''",
      "tabs\t\tand\v\fform feeds",
      "a\u00a0b\u3000c\u2028d\u200de",
      std::string("nul\0byte", 8),
      "",
      " ",
  };
  for (const std::string& text : texts) {
    INFO("text: " << text);
    const Ids ids = tokenizer.encode(text);
    for (const int32_t id : ids) CHECK(id < tokenizer.vocab_size());
    CHECK(tokenizer.decode(ids) == text);
  }
  std::string long_text;
  for (int i = 0; i < 2000; ++i)
    long_text += "def f_" + std::to_string(i) + "(x):\n    return x  \n";
  CHECK(tokenizer.decode(tokenizer.encode(long_text)) == long_text);
}

TEST_CASE("Pre-tokenization follows GPT-2's split pattern", "[tokenizer]") {
  using Words = std::vector<std::string_view>;
  const auto split = alisa::byte_level::split_words;
  CHECK(split("Hello world") == Words{"Hello", " world"});
  CHECK(split("don't") == Words{"don", "'t"});
  CHECK(split("I'll they've we're") == Words{"I", "'ll", " they", "'ve", " we", "'re"});
  CHECK(split("x's 's") == Words{"x", "'s", " '", "s"});
  CHECK(split("  leading") == Words{" ", " leading"});
  CHECK(split("a  \n b") == Words{"a", "  \n", " b"});
  CHECK(split("end   ") == Words{"end", "   "});
  CHECK(split("a\r\nb") == Words{"a", "\r", "\n", "b"});
  CHECK(split("tabs\t\tand") == Words{"tabs", "\t", "\t", "and"});
  CHECK(split("x=-42.5!!") == Words{"x", "=-", "42", ".", "5", "!!"});
  CHECK(split("café ½ ٣") == Words{"café", " ½", " ٣"});
  CHECK(split("a\u00a0b") == Words{"a", "\u00a0", "b"});
  CHECK(split("e\u0301") == Words{"e", "\u0301"});
  CHECK(split("😀!") == Words{"😀!"});
  CHECK(split("").empty());
}

TEST_CASE("Added tokens in the text become their ids", "[tokenizer]") {
  const Tokenizer& tokenizer = fixture_tokenizer();
  const Ids hello = tokenizer.encode("hello");
  const Ids ids = tokenizer.encode("<s>hello</s>");
  CHECK(ids == concat({{0}, hello, {2}}));
  CHECK(tokenizer.decode(ids) == "<s>hello</s>");
  CHECK(tokenizer.decode(ids, /*skip_special_tokens=*/true) == "hello");
  CHECK(tokenizer.encode("<s><s>") == Ids{0, 0});
  CHECK(tokenizer.encode("a<pad>b") == concat({tokenizer.encode("a"), {1}, tokenizer.encode("b")}));
  const Ids partial = tokenizer.encode("<s");
  CHECK(std::find(partial.begin(), partial.end(), 0) == partial.end());
}

TEST_CASE("Added token flags: lstrip, rstrip, single_word", "[tokenizer]") {
  Json json = small_tokenizer(Json::array());
  Json mask = added_token(5, "<mask>", true);
  mask["lstrip"] = true;
  Json strip_right = added_token(6, "[X]", true);
  strip_right["rstrip"] = true;
  Json word = added_token(7, "cat", false);
  word["single_word"] = true;
  json["added_tokens"] = {mask, strip_right, word};
  alisa::test::ScratchDir dir;
  const Tokenizer tokenizer = load_json(dir, json);
  CHECK(tokenizer.encode("a <mask> b") == Ids{0, 5, 4, 1});
  CHECK(tokenizer.encode("a[X]  b") == Ids{0, 6, 1});
  CHECK(tokenizer.encode("a cat b") == Ids{0, 4, 7, 4, 1});
  CHECK(tokenizer.encode("acat") == Ids{0, 2, 0, 3});
  CHECK(tokenizer.decode(Ids{0, 5, 7}, /*skip_special_tokens=*/true) == "acat");
  CHECK(tokenizer.vocab_size() == 8);
}

TEST_CASE("add_special_tokens applies the post-processor", "[tokenizer]") {
  const Tokenizer& fixture = fixture_tokenizer();
  const Ids hello = fixture.encode("hello");
  CHECK(fixture.encode("hello", true) == hello);  // ByteLevel post-processor adds nothing

  const Json bos = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}};
  const Json eos = {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}};
  const Json sequence = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
  const Json special_tokens = {
      {"<s>", {{"id", "<s>"}, {"ids", {0}}, {"tokens", {"<s>"}}}},
      {"</s>", {{"id", "</s>"}, {"ids", {2}}, {"tokens", {"</s>"}}}},
  };
  Json json = fixture_json();
  alisa::test::ScratchDir dir;

  json["post_processor"] = {{"type", "TemplateProcessing"},
                            {"single", {bos, sequence, eos}},
                            {"pair", {bos, sequence, eos, sequence, eos}},
                            {"special_tokens", special_tokens}};
  const Tokenizer templated = load_json(dir, json);
  CHECK(templated.encode("hello", true) == concat({{0}, hello, {2}}));
  CHECK(templated.encode("hello", false) == hello);
  CHECK(templated.encode("", true) == Ids{0, 2});

  json["post_processor"] = {{"type", "RobertaProcessing"},
                            {"sep", {"</s>", 2}},
                            {"cls", {"<s>", 0}},
                            {"trim_offsets", true},
                            {"add_prefix_space", false}};
  CHECK(load_json(dir, json).encode("hello", true) == concat({{0}, hello, {2}}));

  json["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       {{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}},
        {{"type", "TemplateProcessing"},
         {"single", {bos, sequence}},
         {"pair", {bos, sequence, sequence}},
         {"special_tokens", special_tokens}}}}};
  CHECK(load_json(dir, json).encode("hello", true) == concat({{0}, hello}));
}

TEST_CASE("BPE applies merges by rank; ignore_merges keeps vocabulary words whole", "[tokenizer]") {
  alisa::test::ScratchDir dir;
  const Json extra = {{"ab", 5}, {"bc", 6}, {"abc", 7}};
  // Merges as ["a", "b"] pairs and as "a b" strings; the earlier merge wins.
  const Json pair_merges = Json::array({Json::array({"a", "b"}), Json::array({"b", "c"})});
  CHECK(load_json(dir, small_tokenizer(pair_merges, extra)).encode("abc") == Ids{5, 2});
  const Json string_merges = Json::array({"b c", "a b"});
  CHECK(load_json(dir, small_tokenizer(string_merges, extra)).encode("abc") == Ids{0, 6});
  // Characters missing from the vocabulary are dropped, as Hugging Face does without unk.
  CHECK(load_json(dir, small_tokenizer(string_merges, extra)).encode("abcd") == Ids{0, 6});

  Json json = small_tokenizer(Json::array({"b c"}), extra);
  CHECK(load_json(dir, json).encode("abc") == Ids{0, 6});
  json["model"]["ignore_merges"] = true;
  CHECK(load_json(dir, json).encode("abc") == Ids{7});
}

TEST_CASE("Decoding replaces ill-formed UTF-8 like Hugging Face", "[tokenizer]") {
  const Tokenizer& tokenizer = fixture_tokenizer();
  const auto byte_id = [&](unsigned char value) {
    const auto id = tokenizer.token_to_id(alisa::byte_level::mapped_byte(value));
    REQUIRE(id.has_value());
    return *id;
  };
  const std::string replacement = "\uFFFD";
  CHECK(tokenizer.decode(Ids{byte_id(0xE6), byte_id(0x97), byte_id(0xA5)}) == "日");
  CHECK(tokenizer.decode(Ids{byte_id(0xE6), byte_id(0x97)}) == replacement);
  CHECK(tokenizer.decode(Ids{byte_id(0xE6), byte_id('a')}) == replacement + "a");
  CHECK(tokenizer.decode(Ids{byte_id(0x97)}) == replacement);
  CHECK(tokenizer.decode(Ids{byte_id(0xE0), byte_id(0x80)}) == replacement + replacement);
  CHECK(tokenizer.decode(Ids{byte_id(0xF0), byte_id(0x9F), byte_id('!')}) == replacement + "!");

  CHECK_THAT(error_of([&] { tokenizer.decode(Ids{43, 800}); }), Catch::Contains("800"));
  CHECK_THAT(error_of([&] { tokenizer.decode(Ids{-1}); }), Catch::Contains("-1"));
}

TEST_CASE("Tokenizer vocabulary lookups", "[tokenizer]") {
  const Tokenizer& tokenizer = fixture_tokenizer();
  CHECK(tokenizer.vocab_size() == 800);
  CHECK(tokenizer.token_to_id("<s>") == 0);
  CHECK(tokenizer.token_to_id("</s>") == 2);
  CHECK_FALSE(tokenizer.token_to_id("no such token").has_value());
  CHECK(tokenizer.id_to_token(2) == "</s>");
  CHECK_FALSE(tokenizer.id_to_token(800).has_value());
  CHECK(tokenizer.is_special_token(0));
  CHECK_FALSE(tokenizer.is_special_token(43));
  const Tokenizer copy = tokenizer;  // copies share the loaded state
  CHECK(copy.encode("Hello, world!") == tokenizer.encode("Hello, world!"));
}

TEST_CASE("Tokenizer errors name the file and the problem", "[tokenizer]") {
  const std::string missing = "/nonexistent/alisa/tokenizer.json";
  CHECK_THAT(error_of([&] { Tokenizer::load(missing); }), Catch::Contains(missing));

  {
    alisa::test::ScratchDir dir;
    const auto path = dir / "tokenizer.json";
    alisa::test::write_text(path, "not json {");
    const std::string message = error_of([&] { Tokenizer::load(path); });
    CHECK_THAT(message, Catch::Contains(path.string()) && Catch::Contains("not valid JSON"));
  }

  Json json = fixture_json();
  json["model"]["type"] = "WordPiece";
  CHECK_THAT(load_error(json), Catch::Contains("model.type") && Catch::Contains("WordPiece") &&
                                   Catch::Contains("tokenizer.json"));

  json = fixture_json();
  json.erase("model");
  CHECK_THAT(load_error(json), Catch::Contains("'model'") && Catch::Contains("missing"));

  json = fixture_json();
  json["model"]["vocab"] = Json::array({1, 2});
  CHECK_THAT(load_error(json), Catch::Contains("model.vocab"));

  json = fixture_json();
  json["model"]["merges"][0] = Json::array({"no-such-token", "a"});
  CHECK_THAT(load_error(json), Catch::Contains("model.merges[0]"));

  json = fixture_json();
  json["model"]["continuing_subword_prefix"] = "##";
  CHECK_THAT(load_error(json), Catch::Contains("model.continuing_subword_prefix"));

  json = fixture_json();
  json["normalizer"] = {{"type", "Lowercase"}};
  CHECK_THAT(load_error(json), Catch::Contains("normalizer") && Catch::Contains("Lowercase"));

  json = fixture_json();
  json["pre_tokenizer"] = {{"type", "Whitespace"}};
  CHECK_THAT(load_error(json), Catch::Contains("pre_tokenizer") && Catch::Contains("Whitespace"));

  json = fixture_json();
  json["added_tokens"][0]["content"] = 5;
  CHECK_THAT(load_error(json), Catch::Contains("added_tokens[0].content"));

  CHECK_THAT(load_error(Json::array({1, 2})), Catch::Contains("JSON object"));

  const Tokenizer& tokenizer = fixture_tokenizer();
  CHECK_THAT(error_of([&] { tokenizer.encode("ab\xff"); }), Catch::Contains("byte offset 2"));
  CHECK_THAT(error_of([&] { tokenizer.encode("x\xe6\x97"); }), Catch::Contains("byte offset 1"));
  CHECK_THAT(error_of([&] { tokenizer.encode("\xed\xa0\x80"); }),  // a UTF-16 surrogate
             Catch::Contains("byte offset 0"));
  CHECK_THAT(error_of([&] { tokenizer.encode("\xc0\xaf"); }),  // an overlong '/'
             Catch::Contains("byte offset 0"));
}
