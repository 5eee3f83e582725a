// The split patterns' regex engine: Oniguruma's matches for the patterns Hugging Face tokenizers
// use (expected values from Hugging Face tokenizers 0.23's Split with Oniguruma), agreement with
// the hand-written GPT-2 split, and the refusal of everything it does not implement.
#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "runtime/base/common.h"
#include "runtime/text/byte_level.h"
#include "runtime/text/regex.h"
#include "tests/unit/tokenizer_testing.h"

using alisa::test::error_of;
using alisa::text::Regex;
using Pieces = std::vector<std::string>;
using Ranges = std::vector<std::pair<size_t, size_t>>;

namespace {

const char* const kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// The non-empty matches, as text.
Pieces matches(const std::string& pattern, const std::string& text) {
  Pieces pieces;
  for (const auto& [start, end] : Regex::compile(pattern).find_all(text)) {
    if (end > start) pieces.push_back(text.substr(start, end - start));
  }
  return pieces;
}

}  // namespace

TEST_CASE("Regex splits like Llama-3's pattern under Oniguruma", "[tokenizer][regex]") {
  // Contractions in any case, only after a letter run ends.
  CHECK(matches(kLlama3, "I'm can't WE'LL they'RE it'S") ==
        Pieces{"I", "'m", " can", "'t", " WE", "'LL", " they", "'RE", " it", "'S"});
  CHECK(matches(kLlama3, "x's 'S'T") == Pieces{"x", "'s", " '", "S", "'T"});
  // Numbers in groups of at most three digits.
  CHECK(matches(kLlama3, "12345678 3.14 1,000") ==
        Pieces{"123", "456", "78", " ", "3", ".", "14", " ", "1", ",", "000"});
  // Letters beyond ASCII, with one leading non-letter character.
  CHECK(matches(kLlama3, "naïve Ωmega café日本語") == Pieces{"naïve", " Ωmega", " café日本語"});
  CHECK(matches(kLlama3, "\u00a0a\u3000b") == Pieces{"\u00a0a", "\u3000b"});
  CHECK(matches(kLlama3, "$x=-42;") == Pieces{"$x", "=-", "42", ";"});
  // Whitespace: a trailing run whole, runs ending in newlines whole, the last space before a
  // word left to the word.
  CHECK(matches(kLlama3, "trailing   ") == Pieces{"trailing", "   "});
  CHECK(matches(kLlama3, "a  \n\n b") == Pieces{"a", "  \n\n", " b"});
  CHECK(matches(kLlama3, "x\r\n\r\ny") == Pieces{"x", "\r\n\r\n", "y"});
  CHECK(matches(kLlama3, "end\t \n") == Pieces{"end", "\t \n"});
  CHECK(matches(kLlama3, "hello, world!!\n") == Pieces{"hello", ",", " world", "!!\n"});
  CHECK(matches(kLlama3, "").empty());

  // Qwen2's variant: single digits.
  std::string qwen = kLlama3;
  qwen.replace(qwen.find(R"(\p{N}{1,3})"), 10, R"(\p{N})");
  CHECK(matches(qwen, "2024") == Pieces{"2", "0", "2", "4"});
}

TEST_CASE("Regex runs GPT-2's pattern as the hand-written split does", "[tokenizer][regex]") {
  const Regex regex = Regex::compile(kGpt2);
  const std::vector<std::string> texts = {
      "Hello world", "don't I'll they've",
      "x's 's",      "  leading",
      "a  \n b",     "end   ",
      "a\r\nb",      "tabs\t\tand",
      "x=-42.5!!",   "café ½ ٣",
      "a\u00a0b",    "e\u0301",
      "😀!",          "def f(x):\n    return x  # done\n\n",
  };
  for (const std::string& text : texts) {
    INFO("text: " << text);
    Pieces by_regex;
    for (const auto& [start, end] : regex.find_all(text)) {
      by_regex.push_back(text.substr(start, end - start));
    }
    Pieces by_hand;
    for (const std::string_view word : alisa::byte_level::split_words(text)) {
      by_hand.emplace_back(word);
    }
    CHECK(by_regex == by_hand);
  }
}

TEST_CASE("Regex follows Oniguruma's backtracking and search rules", "[tokenizer][regex]") {
  CHECK(matches("a|ab", "ab") == Pieces{"a"});  // the first alternative that matches wins
  CHECK(matches("ab|a", "ab") == Pieces{"ab"});
  CHECK(matches("a+?", "aa") == Pieces{"a", "a"});  // lazy
  CHECK(matches("a{2,3}", "aaaaaaa") == Pieces{"aaa", "aaa"});
  CHECK(matches("a{2}", "aaaaa") == Pieces{"aa", "aa"});
  CHECK(matches("a{,2}b", "aaab") == Pieces{"aab"});
  CHECK(matches("a++a|b", "aaab").size() == 1);  // possessive: never gives a back
  CHECK(matches("(?>a+)a|a", "aa") == Pieces{"a", "a"});
  CHECK(matches("a(?=b)", "abac") == Pieces{"a"});
  CHECK(matches("\\s+(?!\\S)", "a   b") == Pieces{"  "});
  // Case-insensitive: simple case folds, also for classes (U+017F folds to s, U+212A to k).
  CHECK(matches("(?i:'s|k)+", "'S'ſK\u212Ak") == Pieces{"'S'ſK\u212Ak"});
  CHECK(matches("(?i:[a-c]+)", "xAbCx") == Pieces{"AbC"});
  CHECK(matches("(?i:[^a-c]+)", "AbCxY") == Pieces{"xY"});
  CHECK(matches("(?-i:a)|(?i:b)", "AB") == Pieces{"B"});
  // Classes and escapes.
  CHECK(matches("[\\-\\]]+", "a-]-b") == Pieces{"-]-"});
  CHECK(matches("[^\\P{Lu}]+", "abCDe") == Pieces{"CD"});
  CHECK(matches("\\p{^N}+", "ab12") == Pieces{"ab"});
  CHECK(matches("\\x{1F642}|\\u00e9|\\x41", "é🙂A") == Pieces{"é", "🙂", "A"});
  CHECK(matches("[一-龥]+", "x日本y") == Pieces{"日本"});
  CHECK(matches("\\p{P}+", "a,.!b") == Pieces{",.!"});
  // Empty matches: reported, but not right after a match (the onig crate's find_iter).
  CHECK(Regex::compile("[0-9]*").find_all("a1bbb2") ==
        Ranges{{0, 0}, {1, 2}, {3, 3}, {4, 4}, {5, 6}});
  CHECK(Regex::compile("x*").find_all("é") == Ranges{{0, 0}, {2, 2}});  // offsets are bytes
}

TEST_CASE("Regex refuses what it does not implement, naming it", "[tokenizer][regex]") {
  const auto compile_error = [](const std::string& pattern) {
    return error_of([&] { Regex::compile(pattern); });
  };
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"a.b", "'.'"},
      {"^a", "anchor"},
      {"a$", "anchor"},
      {"\\d+", "'\\d'"},
      {"\\w+", "'\\w'"},
      {"\\bx", "'\\b'"},
      {"(?<=a)b", "(?<="},
      {"(?<name>a)", "(?<n"},
      {"(?i)ab", "(?i)"},
      {"[[:alpha:]]", "nested class"},
      {"[a-z&&[^x]]", "intersection"},
      {"\\p{Han}", "\\p{Han}"},
      {"(?i:ss)", "U+DF"},
      {"(?i:ß)", "folds to several characters"},
      {"a**", "quantifier on a quantifier"},
      {"(a*)*", "can match empty text"},
      {"a{3,1}", "upper bound"},
      {"a{1001}", "above 1000"},
      {"*a", "nothing to repeat"},
      {"(ab", "unclosed"},
      {"ab)", "unmatched"},
      {"[ab", "unterminated class"},
      {"[]a]", "']' first"},
      {"[\\s-z]", "range with a class escape"},
      {"[a-c-e]", "right after a range"},
      {"\\x{110000}", "scalar value"},
      {"\\", "at the end"},
      {"(?=a)+", "quantifier on a lookahead"},
      {"a{2}+", "after an interval"},
  };
  for (const auto& [pattern, culprit] : refused) {
    INFO("pattern: " << pattern);
    const std::string message = compile_error(pattern);
    CHECK_THAT(message, Catch::Contains("regex '" + pattern + "'") && Catch::Contains(culprit));
  }
  // Repeats are expanded; a pattern cannot grow without bound.
  CHECK_THAT(compile_error("(?:(?:a{1000}){1000})"), Catch::Contains("too large"));
}
