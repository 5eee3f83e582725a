// Hugging Face normalizers this tokenizer implements, applied in order (a Sequence flattened):
// Prepend, Replace, and the Unicode normal forms NFC, NFD, NFKC, NFKD.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "runtime/text/text_pattern.h"
#include "runtime/text/unicode_classes.h"

namespace alisa::text {

struct PrependNormalizer {
  std::string prefix;  // put before a non-empty text
};

struct ReplaceNormalizer {
  TextPattern pattern;
  std::string content;
};

struct UnicodeNormalizer {
  unicode::NormalForm form;
};

using NormalizerStep = std::variant<PrependNormalizer, ReplaceNormalizer, UnicodeNormalizer>;

struct Normalizer {
  std::vector<NormalizerStep> steps;

  std::string apply(std::string_view text) const;
};

}  // namespace alisa::text
