// The parser of Regex patterns: the supported subset of Oniguruma's syntax (regex.h) into a
// syntax tree; anything outside it fails here, naming it.
#include <cstdint>
#include <string>
#include <utility>

#include "runtime/base/common.h"
#include "runtime/text/regex_syntax.h"
#include "runtime/text/unicode_classes.h"

namespace alisa::text {
namespace {

constexpr int32_t kMaxRepeatCount = 1000;

using Node = RegexNode;

bool can_match_empty(const Node& node) {
  switch (node.kind) {
    case Node::Kind::kChar:
    case Node::Kind::kClass:
      return false;
    case Node::Kind::kConcat:
      for (const Node& child : node.children) {
        if (!can_match_empty(child)) return false;
      }
      return true;
    case Node::Kind::kAlternation:
      for (const Node& child : node.children) {
        if (can_match_empty(child)) return true;
      }
      return false;
    case Node::Kind::kRepeat:
      return node.min == 0 || can_match_empty(node.children[0]);
    case Node::Kind::kAtomic:
      return can_match_empty(node.children[0]);
    case Node::Kind::kEmpty:
    case Node::Kind::kLookahead:
      break;
  }
  return true;
}

// A character, or a class member (\s, \p{..}), read from an escape or a class.
struct Atom {
  bool is_item = false;
  char32_t c = 0;
  ClassItem item{};
};

int hex_digit(char32_t c) {
  if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
  return -1;
}

bool is_ascii_alnum(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

class Parser {
 public:
  Parser(std::string_view pattern, RegexProgram& program)
      : pattern_(pattern), program_(program), chars_(unicode::decode_utf8(pattern).chars) {}

  Node parse() {
    Node root = alternation(false);
    if (!at_end()) fail(pos_, "an unmatched ')'");  // alternation() stops only there
    return root;
  }

 private:
  [[noreturn]] void fail(size_t at, std::string_view problem) const {
    throw Error(str("regex '", pattern_, "': ", problem, " (at character ", at + 1, ")"));
  }
  [[noreturn]] void unsupported(size_t at, size_t length, std::string_view what) const {
    std::string text;
    for (size_t i = at; i < at + length && i < chars_.size(); ++i) {
      unicode::append_utf8(chars_[i], text);
    }
    fail(at, length == 0 ? str(what, " is not supported")
                         : str("'", text, "' (", what, ") is not supported"));
  }

  bool at_end() const { return pos_ >= chars_.size(); }
  bool next_is(char32_t c, size_t ahead = 0) const {
    return pos_ + ahead < chars_.size() && chars_[pos_ + ahead] == c;
  }

  Node alternation(bool fold) {
    Node first = sequence(fold);
    if (!next_is('|')) return first;
    Node node{.kind = Node::Kind::kAlternation};
    node.children.push_back(std::move(first));
    while (next_is('|')) {
      ++pos_;
      node.children.push_back(sequence(fold));
    }
    return node;
  }

  Node sequence(bool fold) {
    const size_t start = pos_;
    Node node{.kind = Node::Kind::kConcat};
    while (!at_end() && !next_is('|') && !next_is(')')) node.children.push_back(quantified(fold));
    if (fold) check_multi_character_folds(node.children, start);
    if (node.children.size() == 1) {
      Node only = std::move(node.children[0]);
      return only;
    }
    return node;
  }

  // Oniguruma matches case-insensitive literals with full case folding: "ss" also matches U+00DF
  // and a literal U+00DF matches "ss". This matcher compares one character at a time, so such
  // literals are refused (the contractions of the Llama-3 pattern have none).
  void check_multi_character_folds(const std::vector<Node>& children, size_t at) const {
    std::u32string run;
    const auto check_run = [&] {
      for (const auto& [c, folded] : unicode::multi_character_folds()) {
        if (run.find(folded) == std::u32string::npos) continue;
        std::string text;
        for (const char32_t f : folded) unicode::append_utf8(f, text);
        unsupported(at, 0,
                    str("case-insensitive '", text,
                        "', which Oniguruma also matches "
                        "against the single character U+",
                        std::hex, std::uppercase, static_cast<uint32_t>(c)));
      }
      run.clear();
    };
    for (const Node& child : children) {
      if (child.kind != Node::Kind::kChar || !child.flag) {
        check_run();
        continue;
      }
      for (const auto& [c, folded] : unicode::multi_character_folds()) {
        if (c == child.c) {
          unsupported(at, 0, "a case-insensitive character that folds to several characters");
        }
      }
      run += child.c;
    }
    check_run();
  }

  Node quantified(bool fold) {
    const size_t start = pos_;
    Node body = atom(fold);
    const size_t quantifier_at = pos_;
    int32_t min = 0;
    int32_t max = 0;
    bool interval = false;
    if (!read_quantifier(min, max, interval)) return body;
    if (body.kind == Node::Kind::kLookahead) {
      unsupported(quantifier_at, 1, "a quantifier on a lookahead");
    }
    bool lazy = false;
    bool possessive = false;
    if (next_is('?')) {
      lazy = true;
      ++pos_;
    } else if (next_is('+')) {
      if (interval) unsupported(pos_, 1, "'+' after an interval");
      possessive = true;
      ++pos_;
    }
    const size_t after = pos_;
    int32_t ignored_min = 0;
    int32_t ignored_max = 0;
    if (read_quantifier(ignored_min, ignored_max, interval)) {
      unsupported(after, pos_ - after, "a quantifier on a quantifier");
    }
    if (max < 0 && can_match_empty(body)) {
      fail(start, "an unbounded repeat of something that can match empty text is not supported");
    }
    Node repeat{.kind = Node::Kind::kRepeat, .flag = lazy, .min = min, .max = max};
    repeat.children.push_back(std::move(body));
    if (!possessive) return repeat;
    Node atomic{.kind = Node::Kind::kAtomic};
    atomic.children.push_back(std::move(repeat));
    return atomic;
  }

  // ?, *, + or an interval {n} {n,} {,m} {n,m} at pos_; false, pos_ unchanged, for none (a '{'
  // that starts no interval is an ordinary character, as in Oniguruma).
  bool read_quantifier(int32_t& min, int32_t& max, bool& interval) {
    interval = false;
    if (at_end()) return false;
    switch (chars_[pos_]) {
      case '?':
        min = 0, max = 1;
        break;
      case '*':
        min = 0, max = -1;
        break;
      case '+':
        min = 1, max = -1;
        break;
      case '{':
        interval = read_interval(min, max);
        return interval;
      default:
        return false;
    }
    ++pos_;
    return true;
  }

  bool read_interval(int32_t& min, int32_t& max) {
    size_t p = pos_ + 1;
    const auto number = [&](int32_t& value) {
      const size_t begin = p;
      value = 0;
      while (p < chars_.size() && chars_[p] >= '0' && chars_[p] <= '9') {
        value = value * 10 + static_cast<int32_t>(chars_[p] - '0');
        if (value > kMaxRepeatCount) fail(pos_, str("a repeat count above ", kMaxRepeatCount));
        ++p;
      }
      return p > begin;
    };
    int32_t low = 0;
    int32_t high = 0;
    const bool has_low = number(low);
    if (p < chars_.size() && chars_[p] == ',') {
      ++p;
      const bool has_high = number(high);
      if (!has_low && !has_high) unsupported(pos_, p - pos_ + 1, "an interval with no bound");
      if (!has_high) high = -1;
    } else if (!has_low) {
      return false;
    } else {
      high = low;
    }
    if (p >= chars_.size() || chars_[p] != '}') return false;
    if (high >= 0 && high < low) fail(pos_, "an interval whose upper bound is below its lower one");
    pos_ = p + 1;
    min = low;
    max = high;
    return true;
  }

  Node atom(bool fold) {
    const size_t at = pos_;
    const char32_t c = chars_[pos_];
    switch (c) {
      case '(':
        ++pos_;
        return group(fold, at);
      case '[':
        ++pos_;
        return class_node(char_class(fold, at));
      case '\\': {
        ++pos_;
        const Atom escaped = escape();
        if (!escaped.is_item) return char_node(escaped.c, fold);
        CharClass single{.items = {escaped.item}, .fold = fold};
        return class_node(add_class(std::move(single)));
      }
      case '.':
        unsupported(at, 1, "any character; write a class instead");
      case '^':
      case '$':
        unsupported(at, 1, "an anchor");
      case '?':
      case '*':
      case '+':
        fail(at, "a quantifier with nothing to repeat");
      case '{': {
        int32_t min = 0;
        int32_t max = 0;
        if (read_interval(min, max)) fail(at, "a quantifier with nothing to repeat");
        break;
      }
      default:
        break;
    }
    ++pos_;
    return char_node(c, fold);
  }

  static Node char_node(char32_t c, bool fold) {
    return {.kind = Node::Kind::kChar, .c = fold ? unicode::fold_case(c) : c, .flag = fold};
  }
  static Node class_node(int32_t index) {
    return {.kind = Node::Kind::kClass, .class_index = index};
  }

  Node group(bool fold, size_t at) {
    Node::Kind wrapper = Node::Kind::kEmpty;
    bool negative = false;
    bool inner_fold = fold;
    if (next_is('?')) {
      ++pos_;
      if (next_is(':')) {
        pos_ += 1;
      } else if (next_is('=') || next_is('!')) {
        wrapper = Node::Kind::kLookahead;
        negative = next_is('!');
        pos_ += 1;
      } else if (next_is('>')) {
        wrapper = Node::Kind::kAtomic;
        pos_ += 1;
      } else if (next_is('i') && next_is(':', 1)) {
        inner_fold = true;
        pos_ += 2;
      } else if (next_is('-') && next_is('i', 1) && next_is(':', 2)) {
        inner_fold = false;
        pos_ += 3;
      } else {
        unsupported(at, 4, "a group other than (?: (?= (?! (?> (?i: (?-i:");
      }
    }
    Node body = alternation(inner_fold);
    if (!next_is(')')) fail(at, "an unclosed '('");
    ++pos_;
    if (wrapper == Node::Kind::kEmpty) return body;
    Node node{.kind = wrapper, .flag = negative};
    node.children.push_back(std::move(body));
    return node;
  }

  int32_t add_class(CharClass set) {
    program_.classes.push_back(std::move(set));
    return static_cast<int32_t>(program_.classes.size() - 1);
  }

  // After '['; `at` is where the class starts.
  int32_t char_class(bool fold, size_t at) {
    CharClass set{.fold = fold};
    if (next_is('^')) {
      set.negated = true;
      ++pos_;
    }
    if (next_is(']')) unsupported(pos_, 1, "']' first in a class; write \\]");
    for (;;) {
      if (at_end()) fail(at, "an unterminated class");
      if (next_is(']')) break;
      if (next_is('[')) unsupported(pos_, 1, "a nested class or POSIX bracket; write \\[");
      if (next_is('&') && next_is('&', 1)) unsupported(pos_, 2, "class intersection");
      const size_t item_at = pos_;
      const Atom first = class_atom();
      if (!(next_is('-') && pos_ + 1 < chars_.size() && !next_is(']', 1))) {
        set.items.push_back(first.is_item ? first.item
                                          : ClassItem{.low = first.c, .high = first.c});
        continue;
      }
      ++pos_;  // the '-' of a range
      if (next_is('[')) unsupported(pos_, 1, "a nested class or POSIX bracket; write \\[");
      const Atom last = class_atom();
      if (first.is_item || last.is_item) {
        unsupported(item_at, pos_ - item_at, "a range with a class escape at an end");
      }
      if (last.c < first.c) fail(item_at, "a range whose end is below its start");
      set.items.push_back({.low = first.c, .high = last.c});
      if (next_is('-') && !next_is(']', 1)) unsupported(pos_, 1, "'-' right after a range");
    }
    ++pos_;  // ']'
    return add_class(std::move(set));
  }

  Atom class_atom() {
    if (next_is('\\')) {
      ++pos_;
      return escape();
    }
    return {.c = chars_[pos_++]};
  }

  // After '\'.
  Atom escape() {
    const size_t at = pos_ - 1;
    if (at_end()) fail(at, "a '\\' at the end");
    const char32_t c = chars_[pos_++];
    switch (c) {
      case 't':
        return {.c = U'\t'};
      case 'n':
        return {.c = U'\n'};
      case 'r':
        return {.c = U'\r'};
      case 'f':
        return {.c = U'\f'};
      case 'v':
        return {.c = U'\v'};
      case 'a':
        return {.c = 0x07};
      case 'e':
        return {.c = 0x1B};
      case 'x':
        if (next_is('{')) {
          ++pos_;
          const char32_t value = hex_number(at, 1, 8);
          if (!next_is('}')) fail(at, "an unterminated \\x{..}");
          ++pos_;
          return {.c = value};
        }
        return {.c = hex_number(at, 1, 2)};
      case 'u':
        return {.c = hex_number(at, 4, 4)};
      case 's':
      case 'S':
        return {.is_item = true, .item = {.kind = ClassItem::Kind::kSpace, .negated = c == 'S'}};
      case 'p':
      case 'P':
        return {.is_item = true, .item = property(at, c == 'P')};
      default:
        if (is_ascii_alnum(c)) unsupported(at, 2, "this escape");
        return {.c = c};  // escaped punctuation or any other character stands for itself
    }
  }

  // `min_digits` to `max_digits` hex digits at pos_.
  char32_t hex_number(size_t at, size_t min_digits, size_t max_digits) {
    char32_t value = 0;
    size_t digits = 0;
    while (digits < max_digits && !at_end() && hex_digit(chars_[pos_]) >= 0) {
      value = value * 16 + static_cast<char32_t>(hex_digit(chars_[pos_]));
      ++pos_;
      ++digits;
    }
    if (digits < min_digits) fail(at, "a hexadecimal escape without enough digits");
    if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
      fail(at, "an escape that is not a Unicode scalar value");
    }
    return value;
  }

  // After \p or \P: {Name} or {^Name}.
  ClassItem property(size_t at, bool negated) {
    if (!next_is('{')) unsupported(at, 2, "a property without braces");
    ++pos_;
    if (next_is('^')) {
      negated = !negated;
      ++pos_;
    }
    std::string name;
    while (!at_end() && !next_is('}')) unicode::append_utf8(chars_[pos_++], name);
    if (at_end()) fail(at, "an unterminated \\p{..}");
    ++pos_;
    const auto categories = unicode::general_category_mask(name);
    if (!categories) unsupported(at, pos_ - at, "only general categories such as L, Lu, N, P");
    return {.kind = ClassItem::Kind::kCategories, .negated = negated, .categories = *categories};
  }

  std::string_view pattern_;
  RegexProgram& program_;
  std::vector<char32_t> chars_;
  size_t pos_ = 0;
};

}  // namespace

RegexNode parse_regex(std::string_view pattern, RegexProgram& program) {
  return Parser(pattern, program).parse();
}

}  // namespace alisa::text
