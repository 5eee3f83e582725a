// The syntax tree of a Regex pattern, between the parser (regex_parse.cpp) and the code
// generator (regex_compile.cpp).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "runtime/text/regex_program.h"

namespace alisa::text {

// One node of the tree; children hold the operands (one for kRepeat, kLookahead, kAtomic).
struct RegexNode {
  enum class Kind : uint8_t {
    kEmpty,
    kChar,
    kClass,
    kConcat,
    kAlternation,
    kRepeat,
    kLookahead,
    kAtomic
  };
  Kind kind = Kind::kEmpty;
  char32_t c = 0;
  bool flag = false;  // kChar: case-insensitive; kRepeat: lazy; kLookahead: negative
  int32_t class_index = -1;
  int32_t min = 0;
  int32_t max = 0;  // kRepeat: < 0 when unbounded
  std::vector<RegexNode> children{};
};

// Parses `pattern` (valid UTF-8), adding its character classes to `program`. Throws
// alisa::Error naming what is wrong or not supported.
RegexNode parse_regex(std::string_view pattern, RegexProgram& program);

}  // namespace alisa::text
