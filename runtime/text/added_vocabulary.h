// Added tokens: matched in the text before pre-tokenization, as Hugging Face's AddedVocabulary
// does (leftmost-longest; non-normalized tokens in the raw text first, then normalized ones in
// the normalized text between them).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/text/bpe.h"
#include "runtime/text/normalizer.h"
#include "runtime/text/string_map.h"

namespace alisa::text {

struct AddedToken {
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
  bool operator==(const AddedToken&) const = default;
};

struct Segment {
  std::string_view text;
  int32_t added_id = -1;  // -1: ordinary text
};

// Finds the leftmost, then longest, of a set of strings in a text.
class TokenMatcher {
 public:
  void add(std::string_view content, int32_t id);
  bool empty() const { return patterns_.empty(); }

  struct Match {
    size_t start;
    size_t end;
    int32_t id;
  };
  std::optional<Match> find(std::string_view text, size_t from) const;

 private:
  std::vector<std::pair<std::string, int32_t>> patterns_;
  std::array<std::vector<uint32_t>, 256> by_first_byte_;
};

class AddedVocabulary {
 public:
  // Hugging Face's AddedVocabulary::add_tokens for one token: a token already known (added or
  // in the model's vocabulary) keeps its id, a new one takes the next free id. -1 for an empty
  // token, which is not added.
  int32_t add(const AddedToken& token, const BpeModel& model);

  // After the last add: the matchers split() uses. Tokens marked "normalized" are matched in
  // their normalized form, as the normalized text shows them.
  void build_matchers(const BpeModel& model, const Normalizer& normalizer);

  std::optional<int32_t> token_to_id(std::string_view content, const BpeModel& model) const;
  const AddedToken* token_for_id(int32_t id) const;
  // What decoding shows for an added token: its normalized form when it is matched normalized
  // (Hugging Face's simple_id_to_token), else its content; nullopt for other ids.
  std::optional<std::string_view> decoding_text(int32_t id) const;
  bool is_special(std::string_view content) const { return special_contents_.contains(content); }
  std::optional<int32_t> max_id() const;

  // The text cut into added tokens and the (non-empty) text between them: first the tokens
  // matched in the raw text (normalized: false), then, in the normalized text between those,
  // the others (normalized: true).
  std::vector<Segment> split(std::string_view text, bool normalized) const;

 private:
  void split_on(std::string_view text, const TokenMatcher& matcher,
                std::vector<Segment>& out) const;

  StringMap<int32_t> ids_by_content_;
  std::unordered_map<int32_t, AddedToken> tokens_by_id_;
  std::vector<AddedToken> special_tokens_;  // in the order given
  std::vector<AddedToken> plain_tokens_;
  StringSet special_contents_;
  std::unordered_map<int32_t, std::string> normalized_forms_;  // where they differ
  TokenMatcher raw_matcher_;
  TokenMatcher normalized_matcher_;
};

}  // namespace alisa::text
