// The code generator of Regex: the syntax tree (regex_syntax.h) into a program for the
// backtracking matcher (regex_program.h).
#include <cstdint>
#include <deque>
#include <string>
#include <utility>

#include "runtime/base/common.h"
#include "runtime/text/regex_program.h"
#include "runtime/text/regex_syntax.h"
#include "runtime/text/unicode_classes.h"

namespace alisa::text {
namespace {

// Repeats are expanded into copies of their body; this bounds what a pattern can grow to.
constexpr size_t kMaxInstructions = 1 << 16;

using Node = RegexNode;

class Emitter {
 public:
  Emitter(std::string_view pattern, RegexProgram& program) : pattern_(pattern), program_(program) {}

  // The main program at 0, then each lookahead's and atomic group's body, each ending in kMatch.
  void emit(const Node& root) {
    emit_node(root);
    add({.op = RegexOp::kMatch});
    while (!pending_.empty()) {
      const auto [instruction, body] = pending_.front();
      pending_.pop_front();
      program_.code[instruction].x = here();
      emit_node(*body);
      add({.op = RegexOp::kMatch});
    }
  }

 private:
  int32_t here() const { return static_cast<int32_t>(program_.code.size()); }

  int32_t add(const RegexInstruction& instruction) {
    if (program_.code.size() >= kMaxInstructions) {
      throw Error(str("regex '", pattern_, "': too large once its repeats are expanded (over ",
                      kMaxInstructions, " steps)"));
    }
    program_.code.push_back(instruction);
    return here() - 1;
  }

  void emit_node(const Node& node) {
    switch (node.kind) {
      case Node::Kind::kEmpty:
        break;
      case Node::Kind::kChar:
        add({.op = RegexOp::kChar, .flag = node.flag, .c = node.c});
        break;
      case Node::Kind::kClass:
        add({.op = RegexOp::kClass, .x = node.class_index});
        break;
      case Node::Kind::kConcat:
        for (const Node& child : node.children) emit_node(child);
        break;
      case Node::Kind::kAlternation:
        emit_alternation(node);
        break;
      case Node::Kind::kRepeat:
        emit_repeat(node);
        break;
      case Node::Kind::kLookahead:
        pending_.emplace_back(add({.op = RegexOp::kLookahead, .flag = node.flag}),
                              &node.children[0]);
        break;
      case Node::Kind::kAtomic:
        pending_.emplace_back(add({.op = RegexOp::kAtomic}), &node.children[0]);
        break;
    }
  }

  // Each alternative but the last: split (this one, else the next), its code, jump to the end.
  void emit_alternation(const Node& node) {
    std::vector<int32_t> exits;
    for (size_t i = 0; i + 1 < node.children.size(); ++i) {
      const int32_t split = add({.op = RegexOp::kSplit});
      program_.code[split].x = here();
      emit_node(node.children[i]);
      exits.push_back(add({.op = RegexOp::kJump}));
      program_.code[split].y = here();
    }
    emit_node(node.children.back());
    for (const int32_t jump : exits) program_.code[jump].x = here();
  }

  // The body `min` times, then a loop (unbounded) or max - min optional copies.
  void emit_repeat(const Node& node) {
    const Node& body = node.children[0];
    const auto set_branches = [&](int32_t split, int32_t take, int32_t skip) {
      program_.code[split].x = node.flag ? skip : take;  // lazy repeats try skipping first
      program_.code[split].y = node.flag ? take : skip;
    };
    for (int32_t i = 0; i < node.min; ++i) emit_node(body);
    if (node.max < 0) {
      const int32_t split = add({.op = RegexOp::kSplit});
      emit_node(body);
      add({.op = RegexOp::kJump, .x = split});
      set_branches(split, split + 1, here());
      return;
    }
    std::vector<int32_t> splits;
    for (int32_t i = node.min; i < node.max; ++i) {
      splits.push_back(add({.op = RegexOp::kSplit}));
      emit_node(body);
    }
    for (const int32_t split : splits) set_branches(split, split + 1, here());
  }

  std::string_view pattern_;
  RegexProgram& program_;
  std::deque<std::pair<int32_t, const Node*>> pending_;
};

}  // namespace

RegexProgram compile_regex(std::string_view pattern) {
  if (const auto offset = unicode::find_invalid_utf8(pattern)) {
    throw Error(str("regex: the pattern is not valid UTF-8 (byte offset ", *offset, ")"));
  }
  RegexProgram program;
  const RegexNode root = parse_regex(pattern, program);
  Emitter(pattern, program).emit(root);
  for (CharClass& set : program.classes) set.prepare();
  return program;
}

}  // namespace alisa::text