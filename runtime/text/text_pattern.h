// The pattern of a Split pre-tokenizer or a Replace normalizer/decoder: {"String": ...}, found
// literally, or {"Regex": ...}.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/text/regex.h"

namespace alisa::text {

class TextPattern {
 public:
  static TextPattern literal(std::string text);  // non-empty
  static TextPattern regex(Regex regex);

  // The [start, end) byte ranges of the matches, left to right, not overlapping.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

  // `text` with each match replaced by `content`.
  std::string replace_all(std::string_view text, std::string_view content) const;

 private:
  std::string literal_;
  std::optional<Regex> regex_;
};

}  // namespace alisa::text
