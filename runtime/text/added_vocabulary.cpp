#include "runtime/text/added_vocabulary.h"

#include <algorithm>

#include "runtime/text/unicode_classes.h"

namespace alisa::text {

void TokenMatcher::add(std::string_view content, int32_t id) {
  const auto index = static_cast<uint32_t>(patterns_.size());
  patterns_.push_back({std::string(content), id});
  auto& bucket = by_first_byte_[static_cast<unsigned char>(content.front())];
  bucket.push_back(index);
  // Longest first, so the first hit at a position is the longest one.
  std::stable_sort(bucket.begin(), bucket.end(), [&](uint32_t a, uint32_t b) {
    return patterns_[a].first.size() > patterns_[b].first.size();
  });
}

std::optional<TokenMatcher::Match> TokenMatcher::find(std::string_view text, size_t from) const {
  if (patterns_.empty()) return std::nullopt;
  for (size_t pos = from; pos < text.size(); ++pos) {
    for (uint32_t index : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      const std::string& content = patterns_[index].first;
      if (text.substr(pos).starts_with(content)) {
        return Match{pos, pos + content.size(), patterns_[index].second};
      }
    }
  }
  return std::nullopt;
}

int32_t AddedVocabulary::add(const AddedToken& token, const BpeModel& model) {
  if (token.special && !token.content.empty() && special_contents_.insert(token.content).second) {
    special_tokens_.push_back(token);
  }
  if (token.content.empty()) return -1;
  for (const auto& [id, existing] : tokens_by_id_) {
    if (existing == token) return id;
  }
  int32_t id = 0;
  if (const auto known = token_to_id(token.content, model)) {
    id = *known;
  } else {
    const auto model_size = static_cast<int32_t>(model.vocab.size());
    id = model_size;
    for (const auto& [content, added_id] : ids_by_content_) {
      if (added_id >= model_size || model_size == 0) id = std::max(id, added_id + 1);
    }
  }
  ids_by_content_[token.content] = id;
  tokens_by_id_[id] = token;
  if (!special_contents_.contains(token.content)) plain_tokens_.push_back(token);
  return id;
}

void AddedVocabulary::build_matchers(const BpeModel& model, const Normalizer& normalizer) {
  for (const auto* list : {&special_tokens_, &plain_tokens_}) {
    for (const AddedToken& token : *list) {
      const int32_t id = *token_to_id(token.content, model);
      if (token.normalized) {
        std::string pattern = normalizer.apply(token.content);
        if (!pattern.empty()) normalized_matcher_.add(pattern, id);
        if (pattern != token.content) normalized_forms_[id] = std::move(pattern);
      } else {
        raw_matcher_.add(token.content, id);
      }
    }
  }
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content,
                                                    const BpeModel& model) const {
  if (const auto it = ids_by_content_.find(content); it != ids_by_content_.end()) {
    return it->second;
  }
  if (const auto it = model.vocab.find(content); it != model.vocab.end()) return it->second;
  return std::nullopt;
}

const AddedToken* AddedVocabulary::token_for_id(int32_t id) const {
  const auto it = tokens_by_id_.find(id);
  return it == tokens_by_id_.end() ? nullptr : &it->second;
}

std::optional<std::string_view> AddedVocabulary::decoding_text(int32_t id) const {
  if (const auto it = normalized_forms_.find(id); it != normalized_forms_.end()) return it->second;
  if (const AddedToken* token = token_for_id(id)) return token->content;
  return std::nullopt;
}

std::optional<int32_t> AddedVocabulary::max_id() const {
  std::optional<int32_t> result;
  for (const auto& [id, token] : tokens_by_id_) result = std::max(result.value_or(id), id);
  return result;
}

std::vector<Segment> AddedVocabulary::split(std::string_view text, bool normalized) const {
  std::vector<Segment> segments;
  split_on(text, normalized ? normalized_matcher_ : raw_matcher_, segments);
  return segments;
}

// Hugging Face's AddedVocabulary::find_matches, with the single_word/lstrip/rstrip flags.
void AddedVocabulary::split_on(std::string_view text, const TokenMatcher& matcher,
                               std::vector<Segment>& out) const {
  size_t done = 0;  // end of the last emitted token, stripped whitespace included
  size_t search_from = 0;
  while (const auto match = matcher.find(text, search_from)) {
    // The search goes on from the match itself, not from what rstrip took: a token that
    // starts with whitespace can match again inside it, and Hugging Face emits it too.
    search_from = match->end;
    size_t start = match->start;
    size_t stop = match->end;
    const AddedToken& token = tokens_by_id_.at(match->id);
    if (token.single_word) {
      size_t after = stop;
      const bool word_before =
          start > 0 && unicode::is_word_character(unicode::code_point_before(text, start));
      const bool word_after =
          stop < text.size() && unicode::is_word_character(unicode::next_code_point(text, after));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      start = std::max(unicode::trailing_whitespace_start(text.substr(0, start)), done);
    }
    if (token.rstrip) stop += unicode::leading_whitespace_end(text.substr(stop));
    if (done < start) out.push_back({text.substr(done, start - done)});
    out.push_back({text.substr(start, stop - start), match->id});
    done = std::max(done, stop);
  }
  if (done < text.size()) out.push_back({text.substr(done)});
}

}  // namespace alisa::text
