#include "runtime/text/pre_tokenizer.h"

#include <algorithm>

#include "runtime/text/byte_level.h"

namespace alisa::text {
namespace {

struct Piece {
  std::string text;
  bool at_origin;
};

struct Span {
  size_t start;
  size_t end;
  bool flag;  // a match (input), to be removed (output)
};

// Each step maps one piece to the pieces that replace it.
struct Apply {
  const Piece& piece;
  std::vector<Piece>& out;

  void operator()(const ByteLevelPreTokenizer& step) const {
    std::string text;
    if (step.add_prefix_space && !piece.text.starts_with(' ')) text += ' ';
    text += piece.text;
    const std::vector<std::string_view> words =
        step.use_regex ? byte_level::split_words(text) : std::vector<std::string_view>{text};
    for (const std::string_view word : words) {
      std::string mapped;
      byte_level::append_mapped(word, mapped);
      out.push_back({std::move(mapped), piece.at_origin && word.data() == text.data()});
    }
  }

  void operator()(const SplitPreTokenizer& step) const {
    const std::string& text = piece.text;
    add(text, split_pieces(text.size(), step.pattern.find_all(text), step.behavior, step.invert));
  }

  void operator()(const MetaspacePreTokenizer& step) const {
    std::string text;
    for (const char c : piece.text) {
      if (c == ' ') {
        text += step.replacement;
      } else {
        text += c;
      }
    }
    const bool prepend = step.prepend_scheme == PrependScheme::kAlways ||
                         (step.prepend_scheme == PrependScheme::kFirst && piece.at_origin);
    if (prepend && !text.starts_with(step.replacement)) text.insert(0, step.replacement);
    if (!step.split) {
      out.push_back({std::move(text), piece.at_origin});
      return;
    }
    std::vector<std::pair<size_t, size_t>> matches;
    for (size_t at = text.find(step.replacement); at != std::string::npos;
         at = text.find(step.replacement, at + step.replacement.size())) {
      matches.emplace_back(at, at + step.replacement.size());
    }
    add(text, split_pieces(text.size(), matches, SplitBehavior::kMergedWithNext, false));
  }

  void add(const std::string& text, const std::vector<std::pair<size_t, size_t>>& ranges) const {
    for (const auto& [begin, end] : ranges) {
      out.push_back({text.substr(begin, end - begin), piece.at_origin && begin == 0});
    }
  }
};

}  // namespace

std::vector<std::pair<size_t, size_t>> split_pieces(
    size_t length, const std::vector<std::pair<size_t, size_t>>& matches, SplitBehavior behavior,
    bool invert) {
  if (length == 0) return {};
  // All of the text as (range, is_match), as Hugging Face's Pattern::find_matches gives it.
  std::vector<Span> spans;
  size_t previous_end = 0;
  for (const auto& [start, end] : matches) {
    if (previous_end != start) spans.push_back({previous_end, start, false});
    spans.push_back({start, end, true});
    previous_end = end;
  }
  if (previous_end != length) spans.push_back({previous_end, length, false});
  if (invert) {
    for (Span& span : spans) span.flag = !span.flag;
  }

  // Hugging Face's folds: going through the spans in order (backwards for MergedWithNext), a
  // span joins the last kept one where `merge(is_match, previous_is_match)` says so; `previous`
  // starts false whatever the first span is.
  std::vector<Span> kept;
  const auto fold = [&](auto first, auto last, auto merge) {
    bool previous = false;
    for (auto it = first; it != last; ++it) {
      if (merge(it->flag, previous) && !kept.empty()) {
        kept.back().start = std::min(kept.back().start, it->start);
        kept.back().end = std::max(kept.back().end, it->end);
      } else {
        kept.push_back({it->start, it->end, false});
      }
      previous = it->flag;
    }
  };
  const auto match_after_non_match = [](bool is_match, bool previous) {
    return is_match && !previous;
  };
  switch (behavior) {
    case SplitBehavior::kRemoved:
      kept = spans;
      break;
    case SplitBehavior::kIsolated:
      for (const Span& span : spans) kept.push_back({span.start, span.end, false});
      break;
    case SplitBehavior::kContiguous:
      fold(spans.begin(), spans.end(),
           [](bool is_match, bool previous) { return is_match == previous; });
      break;
    case SplitBehavior::kMergedWithPrevious:
      fold(spans.begin(), spans.end(), match_after_non_match);
      break;
    case SplitBehavior::kMergedWithNext:
      fold(spans.rbegin(), spans.rend(), match_after_non_match);
      std::reverse(kept.begin(), kept.end());
      break;
  }
  std::vector<std::pair<size_t, size_t>> ranges;
  for (const Span& span : kept) {
    if (!span.flag && span.end > span.start) ranges.emplace_back(span.start, span.end);
  }
  return ranges;
}

void PreTokenizer::apply(std::string_view text, bool at_origin,
                         std::vector<std::string>& words) const {
  std::vector<Piece> pieces{{std::string(text), at_origin}};
  std::vector<Piece> next;
  for (const PreTokenizerStep& step : steps) {
    next.clear();
    for (const Piece& piece : pieces) std::visit(Apply{piece, next}, step);
    std::swap(pieces, next);
  }
  for (Piece& piece : pieces) {
    if (!piece.text.empty()) words.push_back(std::move(piece.text));
  }
}

}  // namespace alisa::text
