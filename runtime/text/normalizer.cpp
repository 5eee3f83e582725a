#include "runtime/text/normalizer.h"

namespace alisa::text {
namespace {

struct Apply {
  std::string& text;
  void operator()(const PrependNormalizer& step) const {
    if (!text.empty()) text.insert(0, step.prefix);
  }
  void operator()(const ReplaceNormalizer& step) const {
    text = step.pattern.replace_all(text, step.content);
  }
  void operator()(const UnicodeNormalizer& step) const {
    text = unicode::normalize(text, step.form);
  }
};

}  // namespace

std::string Normalizer::apply(std::string_view text) const {
  std::string out(text);
  for (const NormalizerStep& step : steps) std::visit(Apply{out}, step);
  return out;
}

}  // namespace alisa::text
