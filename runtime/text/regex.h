// The regular expressions of Hugging Face tokenizers' Split pre-tokenizer and Replace
// normalizer/decoder: the part of Oniguruma's syntax those patterns use, with Oniguruma's
// meaning (leftmost-first backtracking, \s the White_Space property), over code points.
//
// Supported: literals and escapes (\t \n \r \f \v \a \e \xHH \x{H..} \uHHHH, escaped
// punctuation), classes [..] / [^..] with ranges, \s \S \p{Cat} \P{Cat} \p{^Cat} for general
// categories (L, Lu, N, Nd, P, S, Z, M, C, ...), groups (..) (?:..) (?i:..) (?-i:..), lookahead
// (?=..) (?!..), atomic groups (?>..), quantifiers ? * + {n} {n,} {,m} {n,m}, lazy (??, *?, ..)
// and possessive (?+ *+ ++) forms. Anything else (., anchors, \d \w \b, lookbehind,
// backreferences, inline flags without a group, nested classes) is refused when compiling,
// so no pattern runs with a meaning Oniguruma would not give it.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace alisa::text {

struct RegexProgram;

class Regex {
 public:
  // Throws alisa::Error saying what in `pattern` is wrong or not supported (the caller adds
  // where the pattern came from).
  static Regex compile(std::string_view pattern);

  // The [start, end) byte ranges of the matches in `text` (valid UTF-8), as Oniguruma's
  // find_iter gives them: leftmost-first, non-overlapping, left to right; an empty match is
  // reported unless it sits right where the previous match ended.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  explicit Regex(std::shared_ptr<const RegexProgram> program) : program_(std::move(program)) {}
  std::shared_ptr<const RegexProgram> program_;
};

}  // namespace alisa::text
