// The LLaMA-2 / Mistral (SentencePiece-style BPE with byte fallback) and Llama-3 / Qwen (regex
// split, then byte-level BPE) tokenizers against Hugging Face tokenizers' fixtures, and the
// pieces they are built from: normalizers, pre-tokenizers, decoders, refusals.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/text/pre_tokenizer.h"
#include "runtime/text/tokenizer.h"
#include "tests/test_support.h"
#include "tests/unit/tokenizer_testing.h"

using alisa::Tokenizer;
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

// A hand-written LLaMA-2-style tokenizer: "▁" a b c, the byte tokens of é (C3 A9) and ▁
// (E2 96 81) but no others, merges a+b and ▁+ab.
Json sentencepiece_tokenizer() {
  return Json::parse(R"json({
    "version": "1.0",
    "added_tokens": [
      {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false,
       "normalized": false, "special": true},
      {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false,
       "normalized": false, "special": true},
      {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false,
       "normalized": false, "special": true}],
    "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "▁"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": null,
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [{"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"},
      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "fuse_unk": true,
      "byte_fallback": true,
      "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3, "a": 4, "b": 5, "c": 6, "<0xC3>": 7,
                "<0xA9>": 8, "<0xE2>": 9, "<0x96>": 10, "<0x81>": 11, "ab": 12, "▁ab": 13},
      "merges": ["a b", "▁ ab"]}})json");
}

// The same model behind a Metaspace pre-tokenizer and decoder (the later LLaMA-2 form), with
// a merge across the "▁" between words ranked first, so that splitting at "▁" shows.
Json metaspace_tokenizer(const std::string& prepend_scheme, bool split) {
  Json json = sentencepiece_tokenizer();
  json["normalizer"] = nullptr;
  const Json metaspace = {{"type", "Metaspace"},
                          {"replacement", "▁"},
                          {"prepend_scheme", prepend_scheme},
                          {"split", split}};
  json["pre_tokenizer"] = metaspace;
  json["decoder"] = metaspace;
  json["model"]["vocab"]["b▁"] = 14;
  json["model"]["merges"] = {"b ▁", "a b", "▁ ab"};
  return json;
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

TEST_CASE("Special tokens in the text and decoding with them", "[tokenizer]") {
  // Expected values from Hugging Face tokenizers 0.23.
  const Tokenizer sentencepiece = Tokenizer::load(fixture_file("tokenizer-sentencepiece"));
  const Ids ids = sentencepiece.encode("<s>Hello</s> world", true);
  CHECK(ids == Ids{1, 1, 169, 44, 241, 236, 2, 170, 551, 80, 72});
  CHECK(sentencepiece.decode(ids) == "<s><s> Hello</s>  world");
  CHECK(sentencepiece.decode(ids, /*skip_special_tokens=*/true) == "Hello  world");
  CHECK(sentencepiece.encode("a<unk>b") == Ids{169, 69, 0, 169, 70});
  CHECK(sentencepiece.decode(sentencepiece.encode(" </s>", true)) == "<s>  </s>");

  const Tokenizer llama3 = Tokenizer::load(fixture_file("tokenizer-llama3"));
  const Ids llama_ids = llama3.encode("<|begin_of_text|>Hi<|eot_id|>\n", true);
  CHECK(llama_ids == Ids{0, 0, 42, 75, 2, 201});
  CHECK(llama3.decode(llama_ids) == "<|begin_of_text|><|begin_of_text|>Hi<|eot_id|>\n");
  CHECK(llama3.decode(llama_ids, /*skip_special_tokens=*/true) == "Hi\n");
  CHECK(llama3.encode("x<|end_of_text|>", true) == Ids{0, 90, 1});
  CHECK(llama3.vocab_size() == 900);
  CHECK(llama3.token_to_id("<|eot_id|>") == 2);
  CHECK(llama3.is_special_token(2));
}

TEST_CASE("BPE byte fallback and the unk token", "[tokenizer]") {
  // Expected values from Hugging Face tokenizers 0.23 on the same tokenizer.json.
  alisa::test::ScratchDir dir;
  Json json = sentencepiece_tokenizer();
  const Tokenizer tokenizer = load_json(dir, json);
  CHECK(tokenizer.encode("abc é") == Ids{13, 6, 3, 7, 8});  // é as its bytes C3 A9
  CHECK(tokenizer.encode("a b") == Ids{3, 4, 3, 5});
  CHECK(tokenizer.encode("  ") == Ids{3, 3, 3});
  CHECK(tokenizer.encode("", true) == Ids{1});
  CHECK(tokenizer.encode("<s>ab</s>ab", true) == Ids{1, 1, 13, 2, 13});
  // ë is C3 AB and <0xAB> is missing: the whole character becomes <unk>, consecutive ones fused.
  CHECK(tokenizer.encode("ë") == Ids{3, 0});
  CHECK(tokenizer.encode("ëë") == Ids{3, 0});
  // As in Hugging Face, a pending <unk> is emitted after byte tokens that follow it.
  CHECK(tokenizer.encode("ëé") == Ids{3, 7, 8, 0});
  json["model"]["fuse_unk"] = false;
  CHECK(load_json(dir, json).encode("ëë") == Ids{3, 0, 0});
}

TEST_CASE("SentencePiece decoders: Replace, ByteFallback, Fuse, Strip", "[tokenizer]") {
  alisa::test::ScratchDir dir;
  Json json = sentencepiece_tokenizer();
  const Tokenizer tokenizer = load_json(dir, json);
  CHECK(tokenizer.decode(Ids{3, 4, 7, 8}) == "aé");       // Strip takes the leading space
  CHECK(tokenizer.decode(Ids{3, 3, 4}) == " a");          // only one
  CHECK(tokenizer.decode(Ids{9, 10, 11}) == "▁");         // bytes E2 96 81 are ▁, kept as text
  CHECK(tokenizer.decode(Ids{7}) == "\uFFFD");            // an incomplete character
  CHECK(tokenizer.decode(Ids{9, 10}) == "\uFFFD\uFFFD");  // one U+FFFD per byte, not per run
  CHECK(tokenizer.decode(Ids{7, 4}) == "\uFFFDa");
  CHECK(tokenizer.decode(Ids{1, 3, 12, 2}) == "<s> ab</s>");
  CHECK(tokenizer.decode(Ids{1, 3, 12, 2}, /*skip_special_tokens=*/true) == "ab");

  // Strip after Fuse, up to two "▁" off each end of the text.
  json["decoder"] = {
      {"type", "Sequence"},
      {"decoders",
       {{{"type", "Fuse"}}, {{"type", "Strip"}, {"content", "▁"}, {"start", 2}, {"stop", 2}}}}};
  const Tokenizer strip = load_json(dir, json);
  CHECK(strip.decode(Ids{3, 3, 3, 4, 3}) == "▁a");
  CHECK(strip.decode(Ids{3, 4, 3, 3, 3}) == "a▁");
  CHECK(strip.decode(Ids{3, 3, 4, 3}) == "a");
  CHECK(strip.decode(Ids{4, 4, 4}) == "aaa");
  CHECK(strip.decode(Ids{3, 3}).empty());  // Hugging Face panics where the cuts cross

  // Without a decoder, tokens are joined with spaces.
  json.erase("decoder");
  CHECK(load_json(dir, json).decode(Ids{3, 12, 5}) == "▁ ab b");
}

TEST_CASE("Metaspace pre-tokenizer and decoder", "[tokenizer]") {
  // Expected values from Hugging Face tokenizers 0.23 on the same tokenizer.json.
  alisa::test::ScratchDir dir;
  // "first" prepends "▁" only where the input starts, not after an added token; with split,
  // words start at each "▁", without it the merge across "▁" applies.
  const Tokenizer first = load_json(dir, metaspace_tokenizer("first", true));
  CHECK(first.encode("a</s>ab c") == Ids{3, 4, 2, 12, 3, 6});
  CHECK(first.encode(" ab") == Ids{13});  // already starts with "▁"
  CHECK(first.encode("ab ab") == Ids{13, 13});
  CHECK(first.decode(Ids{3, 3, 4, 3}) == " a ");  // every "▁" of the first token dropped
  const Tokenizer first_whole = load_json(dir, metaspace_tokenizer("first", false));
  CHECK(first_whole.encode("a</s>ab c") == Ids{3, 4, 2, 4, 14, 6});
  CHECK(first_whole.encode("ab ab") == Ids{3, 4, 14, 12});

  const Tokenizer always = load_json(dir, metaspace_tokenizer("always", true));
  CHECK(always.encode("a</s>ab c") == Ids{3, 4, 2, 13, 3, 6});
  CHECK(load_json(dir, metaspace_tokenizer("always", false)).encode("a</s>ab c") ==
        Ids{3, 4, 2, 3, 4, 14, 6});

  const Tokenizer never = load_json(dir, metaspace_tokenizer("never", true));
  CHECK(never.encode("a</s>ab c") == Ids{4, 2, 12, 3, 6});
  CHECK(never.encode("ab ab") == Ids{12, 13});
  CHECK(never.decode(Ids{3, 3, 4, 3}) == "  a ");
  CHECK(load_json(dir, metaspace_tokenizer("never", false)).encode("ab ab") == Ids{4, 14, 12});

  // The older form: add_prefix_space instead of prepend_scheme.
  Json legacy = metaspace_tokenizer("always", true);
  legacy["pre_tokenizer"].erase("prepend_scheme");
  legacy["pre_tokenizer"]["add_prefix_space"] = true;
  legacy["pre_tokenizer"]["str_rep"] = "▁";
  CHECK(load_json(dir, legacy).encode("a</s>ab") == Ids{3, 4, 2, 13});
  legacy["pre_tokenizer"]["add_prefix_space"] = false;
  CHECK_THAT(load_error(legacy), Catch::Contains("pre_tokenizer.add_prefix_space"));
  legacy["pre_tokenizer"]["prepend_scheme"] = "never";
  CHECK(load_json(dir, legacy).encode("a</s>ab") == Ids{4, 2, 12});
}

TEST_CASE("Normalized added tokens are matched and decoded in normalized form", "[tokenizer]") {
  // Hugging Face normalizes such a token's content ("▁c" becomes "▁▁c") to match it in the
  // normalized text, and decodes it from that form.
  alisa::test::ScratchDir dir;
  Json json = sentencepiece_tokenizer();
  json["added_tokens"].push_back({{"id", 14},
                                  {"content", "▁c"},
                                  {"single_word", false},
                                  {"lstrip", false},
                                  {"rstrip", false},
                                  {"normalized", true},
                                  {"special", false}});
  const Tokenizer tokenizer = load_json(dir, json);
  CHECK(tokenizer.encode("▁c") == Ids{14});
  CHECK(tokenizer.encode("a ▁c") == Ids{3, 4, 14});
  CHECK(tokenizer.encode("<s>▁c") == Ids{1, 14});
  CHECK(tokenizer.decode(Ids{14}) == " c");
  CHECK(tokenizer.decode(Ids{4, 14}) == "a  c");
  CHECK(tokenizer.id_to_token(14) == "▁c");
}

TEST_CASE("Unicode normalizers", "[tokenizer]") {
  alisa::test::ScratchDir dir;
  Json json = fixture_json("tokenizer-llama3");
  const Tokenizer plain = load_json(dir, json);
  CHECK(plain.encode("cafe\u0301") == Ids{555, 72, 71, 139, 226});
  json["normalizer"] = {{"type", "NFC"}};
  const Tokenizer nfc = load_json(dir, json);
  CHECK(nfc.encode("cafe\u0301") == Ids{555, 72, 130, 105});
  CHECK(nfc.encode("café") == Ids{555, 72, 130, 105});
  CHECK(nfc.encode("ﬁ") == Ids{174, 108, 226});  // a compatibility character: kept by NFC
  json["normalizer"] = {{"type", "NFKD"}};
  CHECK(load_json(dir, json).encode("café") == Ids{555, 72, 71, 139, 226});
  json["normalizer"] = {{"type", "NFKC"}};
  CHECK(load_json(dir, json).encode("ﬁ") == Ids{461});
}

TEST_CASE("Split delimiter behaviors follow Hugging Face", "[tokenizer]") {
  using alisa::text::split_pieces;
  using alisa::text::SplitBehavior;
  using Ranges = std::vector<std::pair<size_t, size_t>>;
  // "a--b-c-" split at each "-", and "-a"; expected values from Hugging Face tokenizers 0.23.
  const Ranges dashes = {{1, 2}, {2, 3}, {4, 5}, {6, 7}};
  const Ranges leading = {{0, 1}};
  const auto both = [&](SplitBehavior behavior, bool invert) {
    return std::make_pair(split_pieces(7, dashes, behavior, invert),
                          split_pieces(2, leading, behavior, invert));
  };
  const Ranges singles = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {6, 7}};
  CHECK(both(SplitBehavior::kRemoved, false) ==
        std::make_pair(Ranges{{0, 1}, {3, 4}, {5, 6}}, Ranges{{1, 2}}));
  CHECK(both(SplitBehavior::kRemoved, true) == std::make_pair(dashes, Ranges{{0, 1}}));
  CHECK(both(SplitBehavior::kIsolated, false) == std::make_pair(singles, Ranges{{0, 1}, {1, 2}}));
  CHECK(both(SplitBehavior::kIsolated, true) == std::make_pair(singles, Ranges{{0, 1}, {1, 2}}));
  CHECK(both(SplitBehavior::kMergedWithPrevious, false) ==
        std::make_pair(Ranges{{0, 2}, {2, 3}, {3, 5}, {5, 7}}, Ranges{{0, 1}, {1, 2}}));
  CHECK(both(SplitBehavior::kMergedWithPrevious, true) ==
        std::make_pair(Ranges{{0, 1}, {1, 2}, {2, 4}, {4, 6}, {6, 7}}, Ranges{{0, 2}}));
  CHECK(both(SplitBehavior::kMergedWithNext, false) ==
        std::make_pair(Ranges{{0, 1}, {1, 2}, {2, 4}, {4, 6}, {6, 7}}, Ranges{{0, 2}}));
  CHECK(both(SplitBehavior::kMergedWithNext, true) ==
        std::make_pair(Ranges{{0, 2}, {2, 3}, {3, 5}, {5, 7}}, Ranges{{0, 1}, {1, 2}}));
  const Ranges contiguous = {{0, 1}, {1, 3}, {3, 4}, {4, 5}, {5, 6}, {6, 7}};
  CHECK(both(SplitBehavior::kContiguous, false) ==
        std::make_pair(contiguous, Ranges{{0, 1}, {1, 2}}));
  CHECK(both(SplitBehavior::kContiguous, true) ==
        std::make_pair(contiguous, Ranges{{0, 1}, {1, 2}}));
  CHECK(split_pieces(0, {}, SplitBehavior::kIsolated, false).empty());
}

TEST_CASE("Unsupported tokenizer components are refused, naming the component and the file",
          "[tokenizer]") {
  const Json llama3 = fixture_json("tokenizer-llama3");
  const Json sentencepiece = fixture_json("tokenizer-sentencepiece");
  const auto refused = [](const Json& json, const std::string& key, const std::string& culprit) {
    const std::string message = load_error(json);
    INFO("expected key " << key);
    CHECK_THAT(message, Catch::Contains("tokenizer.json") && Catch::Contains("'" + key + "'") &&
                            Catch::Contains(culprit));
  };

  Json json = sentencepiece;
  json["normalizer"]["normalizers"][1] = {{"type", "Lowercase"}};
  refused(json, "normalizer.normalizers[1].type", "normalizer 'Lowercase' is not supported");
  json = sentencepiece;
  json["normalizer"]["normalizers"][1]["pattern"] = {{"String", ""}};
  refused(json, "normalizer.normalizers[1].pattern.String", "empty pattern");
  json = sentencepiece;
  json["decoder"]["decoders"][1] = {{"type", "WordPiece"}, {"prefix", "##"}};
  refused(json, "decoder.decoders[1].type", "decoder 'WordPiece' is not supported");
  json = sentencepiece;
  json["decoder"] = {{"type", "CTC"}};
  refused(json, "decoder.type", "decoder 'CTC'");
  json = sentencepiece;
  json["decoder"]["decoders"][3]["content"] = "ab";
  refused(json, "decoder.decoders[3].content", "one character");
  json = sentencepiece;
  json["decoder"]["decoders"][3]["start"] = -1;
  refused(json, "decoder.decoders[3].start", "non-negative");
  json = sentencepiece;
  json["model"]["type"] = "Unigram";
  refused(json, "model.type", "Unigram");
  json = sentencepiece;
  json["post_processor"] = {{"type", "TokenTypeIds"}};
  refused(json, "post_processor.type", "TokenTypeIds");
  json = sentencepiece;
  json["pre_tokenizer"] = {
      {"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "sometimes"}};
  refused(json, "pre_tokenizer.prepend_scheme", "'sometimes'");

  json = llama3;
  json["pre_tokenizer"]["pretokenizers"][1] = {{"type", "Digits"}, {"individual_digits", true}};
  refused(json, "pre_tokenizer.pretokenizers[1].type", "pre-tokenizer 'Digits' is not supported");
  json = llama3;
  json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+|.";
  refused(json, "pre_tokenizer.pretokenizers[0].pattern.Regex", "'\\w'");
  json = llama3;
  json["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Glob", "*"}};
  refused(json, "pre_tokenizer.pretokenizers[0].pattern", "expected {\"String\"");
  json = llama3;
  json["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sometimes";
  refused(json, "pre_tokenizer.pretokenizers[0].behavior", "'Sometimes'");
  json = llama3;
  json["pre_tokenizer"]["pretokenizers"][0].erase("invert");
  refused(json, "pre_tokenizer.pretokenizers[0].invert", "missing");
}
