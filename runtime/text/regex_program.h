// A compiled Regex (regex.h): a program for a backtracking matcher over code points. Shared by
// the compiler (regex_compile.cpp) and the matcher (regex.cpp) only.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace alisa::text {

// One member of a character class: a range of code points, a set of general categories, or
// \s (White_Space); `negated` for \P{..} and \S.
struct ClassItem {
  enum class Kind : uint8_t { kRange, kCategories, kSpace };
  Kind kind = Kind::kRange;
  bool negated = false;
  char32_t low = 0;
  char32_t high = 0;
  uint32_t categories = 0;  // unicode::general_category_bit values
};

struct CharClass {
  std::vector<ClassItem> items{};
  bool negated = false;  // [^..]
  bool fold = false;     // inside (?i:..): a case variant of the character may match instead
  std::array<uint64_t, 2> ascii{};  // membership of the code points below 128, set by prepare()

  void prepare();
  bool contains(char32_t c) const {
    return c < 128 ? ((ascii[c >> 6] >> (c & 63)) & 1) != 0 : contains_slow(c);
  }
  bool contains_slow(char32_t c) const;
};

enum class RegexOp : uint8_t {
  kChar,       // the character at pos is `c` (compared case-folded when `flag`)
  kClass,      // classes[x] contains the character at pos
  kSplit,      // go on at x; when that fails, at y
  kJump,       // go on at x
  kLookahead,  // the sub-program at x matches at pos (does not, when `flag`); consumes nothing
  kAtomic,     // go on from the end of the sub-program at x's first match, never backtracking in
  kMatch,      // the (sub-)program matched
};

struct RegexInstruction {
  RegexOp op = RegexOp::kMatch;
  bool flag = false;
  char32_t c = 0;
  int32_t x = 0;
  int32_t y = 0;
};

struct RegexProgram {
  std::vector<RegexInstruction> code;  // the main program starts at 0
  std::vector<CharClass> classes;
};

// Compiles `pattern` (see regex.h for the syntax); throws alisa::Error.
RegexProgram compile_regex(std::string_view pattern);

}  // namespace alisa::text
