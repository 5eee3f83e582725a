// Hugging Face pre-tokenizers this tokenizer implements, applied in order (a Sequence
// flattened): ByteLevel (GPT-2's split and byte map), Split (a pattern and a delimiter
// behavior) and Metaspace (SentencePiece's "▁" for spaces).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/text/text_pattern.h"

namespace alisa::text {

struct ByteLevelPreTokenizer {
  bool add_prefix_space = true;
  bool use_regex = true;  // GPT-2's split pattern before the byte map
};

// What a split does with the pattern's matches (Hugging Face's SplitDelimiterBehavior).
enum class SplitBehavior : uint8_t {
  kRemoved,
  kIsolated,
  kMergedWithPrevious,
  kMergedWithNext,
  kContiguous
};

struct SplitPreTokenizer {
  TextPattern pattern;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;  // the pattern matches what lies between the delimiters
};

enum class PrependScheme : uint8_t { kFirst, kNever, kAlways };

struct MetaspacePreTokenizer {
  std::string replacement;  // one character, UTF-8
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  bool split = true;  // split before each replacement character
};

using PreTokenizerStep =
    std::variant<ByteLevelPreTokenizer, SplitPreTokenizer, MetaspacePreTokenizer>;

// The non-empty [start, end) byte ranges a split of a text of `length` bytes keeps, given the
// matches of its pattern: Hugging Face's NormalizedString::split.
std::vector<std::pair<size_t, size_t>> split_pieces(
    size_t length, const std::vector<std::pair<size_t, size_t>>& matches, SplitBehavior behavior,
    bool invert);

struct PreTokenizer {
  std::vector<PreTokenizerStep> steps;

  // Appends the words the model tokenizes one by one (byte-mapped after a ByteLevel step).
  // `at_origin`: `text` starts the input (Metaspace's "first" scheme prepends only there).
  void apply(std::string_view text, bool at_origin, std::vector<std::string>& words) const;
};

}  // namespace alisa::text
