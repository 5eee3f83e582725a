// Regex's matcher: backtracking over the compiled program (regex_program.h), alternatives in
// the pattern's order, as Oniguruma matches; and Oniguruma's find_iter over a text.
#include "runtime/text/regex.h"

#include <cstdint>
#include <optional>
#include <span>

#include "runtime/base/common.h"
#include "runtime/text/regex_program.h"
#include "runtime/text/unicode_classes.h"

namespace alisa::text {
namespace {

// Oniguruma's own default bound on backtracking for one match attempt.
constexpr uint64_t kMaxStepsPerAttempt = 10'000'000;

bool item_contains(const ClassItem& item, char32_t c) {
  bool in = false;
  switch (item.kind) {
    case ClassItem::Kind::kRange:
      in = c >= item.low && c <= item.high;
      break;
    case ClassItem::Kind::kCategories:
      in = (unicode::general_category_bit(c) & item.categories) != 0;
      break;
    case ClassItem::Kind::kSpace:
      in = unicode::is_whitespace(c);
      break;
  }
  return in != item.negated;
}

class Matcher {
 public:
  Matcher(const RegexProgram& program, std::span<const char32_t> text)
      : code_(program.code), classes_(program.classes), text_(text) {}

  // The end of the match that starts at `start`, if any.
  std::optional<size_t> match_at(size_t start) {
    steps_ = 0;
    return run(0, start);
  }

 private:
  struct Backtrack {
    int32_t pc;
    size_t pos;
  };

  // Runs the (sub-)program at `pc` from `pos`. Nested runs (lookahead, atomic groups) share the
  // stack above the caller's entries and leave it as they found it.
  std::optional<size_t> run(int32_t pc, size_t pos) {
    const size_t base = stack_.size();
    for (;;) {
      if (++steps_ > kMaxStepsPerAttempt) {
        throw Error(str("regex: more than ", kMaxStepsPerAttempt,
                        " backtracking steps for one match; the pattern is too costly on this "
                        "text"));
      }
      const RegexInstruction& instruction = code_[pc];
      bool ok = true;
      switch (instruction.op) {
        case RegexOp::kChar:
          ok = pos < text_.size() &&
               (instruction.flag ? unicode::fold_case(text_[pos]) : text_[pos]) == instruction.c;
          if (ok) {
            ++pos;
            ++pc;
          }
          break;
        case RegexOp::kClass:
          ok = pos < text_.size() && classes_[instruction.x].contains(text_[pos]);
          if (ok) {
            ++pos;
            ++pc;
          }
          break;
        case RegexOp::kSplit:
          stack_.push_back({instruction.y, pos});
          pc = instruction.x;
          break;
        case RegexOp::kJump:
          pc = instruction.x;
          break;
        case RegexOp::kLookahead:
          ok = run(instruction.x, pos).has_value() != instruction.flag;
          if (ok) ++pc;
          break;
        case RegexOp::kAtomic:
          if (const auto end = run(instruction.x, pos)) {
            pos = *end;
            ++pc;
          } else {
            ok = false;
          }
          break;
        case RegexOp::kMatch:
          stack_.resize(base);
          return pos;
      }
      if (ok) continue;
      if (stack_.size() == base) return std::nullopt;
      pc = stack_.back().pc;
      pos = stack_.back().pos;
      stack_.pop_back();
    }
  }

  const std::vector<RegexInstruction>& code_;
  const std::vector<CharClass>& classes_;
  std::span<const char32_t> text_;
  std::vector<Backtrack> stack_;
  uint64_t steps_ = 0;
};

}  // namespace

void CharClass::prepare() {
  ascii = {};
  for (char32_t c = 0; c < 128; ++c) {
    if (contains_slow(c)) ascii[c >> 6] |= uint64_t{1} << (c & 63);
  }
}

bool CharClass::contains_slow(char32_t c) const {
  const auto member = [&](char32_t x) {
    for (const ClassItem& item : items) {
      if (item_contains(item, x)) return true;
    }
    return false;
  };
  bool found = member(c);
  if (fold && !found) {
    for (const char32_t variant : unicode::case_variants(c)) {
      if (variant != c && member(variant)) {
        found = true;
        break;
      }
    }
  }
  return found != negated;
}

Regex Regex::compile(std::string_view pattern) {
  return Regex(std::make_shared<const RegexProgram>(compile_regex(pattern)));
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  const auto [chars, offsets] = unicode::decode_utf8(text);
  Matcher matcher(*program_, chars);
  std::vector<std::pair<size_t, size_t>> matches;
  const size_t n = chars.size();
  size_t next_search = 0;
  bool skip_next_empty = false;  // the onig crate's rule for empty matches after a match
  while (next_search <= n) {
    std::optional<size_t> end;
    size_t start = next_search;
    for (; start <= n; ++start) {
      if ((end = matcher.match_at(start))) break;
    }
    if (!end) break;
    next_search = *end;
    if (*end == start) {
      next_search += 1;  // one code point on
      if (skip_next_empty) {
        skip_next_empty = false;
        continue;
      }
    } else {
      skip_next_empty = true;
    }
    matches.emplace_back(offsets[start], offsets[*end]);
  }
  return matches;
}

}  // namespace alisa::text
