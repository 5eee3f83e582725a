#include "runtime/text/text_pattern.h"

#include "runtime/base/common.h"

namespace alisa::text {

TextPattern TextPattern::literal(std::string text) {
  ALISA_ASSERT(!text.empty());
  TextPattern pattern;
  pattern.literal_ = std::move(text);
  return pattern;
}

TextPattern TextPattern::regex(Regex regex) {
  TextPattern pattern;
  pattern.regex_ = std::move(regex);
  return pattern;
}

std::vector<std::pair<size_t, size_t>> TextPattern::find_all(std::string_view text) const {
  if (regex_) return regex_->find_all(text);
  std::vector<std::pair<size_t, size_t>> matches;
  for (size_t at = text.find(literal_); at != std::string_view::npos;
       at = text.find(literal_, at + literal_.size())) {
    matches.emplace_back(at, at + literal_.size());
  }
  return matches;
}

std::string TextPattern::replace_all(std::string_view text, std::string_view content) const {
  std::string out;
  size_t done = 0;
  for (const auto& [start, end] : find_all(text)) {
    out.append(text.substr(done, start - done));
    out.append(content);
    done = end;
  }
  out.append(text.substr(done));
  return out;
}

}  // namespace alisa::text
