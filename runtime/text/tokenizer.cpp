#include "runtime/text/tokenizer.h"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <array>
#include <fstream>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "runtime/base/common.h"
#include "runtime/text/byte_level.h"
#include "runtime/text/unicode_classes.h"

namespace alisa {
namespace {

using Json = nlohmann::json;

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
template <typename Value>
using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

// ---------------------------------------------------------------------------------------------
// Reading tokenizer.json: every problem becomes an alisa::Error naming the file and the key.

class JsonReader {
 public:
  explicit JsonReader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(std::string_view key, std::string_view problem) const {
    throw Error(str("tokenizer file '", file_, "': key '", key, "': ", problem));
  }

  static std::string join(std::string_view path, std::string_view key) {
    return path.empty() ? std::string(key) : str(path, ".", key);
  }

  // nullptr when the key is absent or null.
  const Json* find(const Json& object, std::string_view path, const char* key) const {
    if (!object.is_object()) fail(path, "expected an object");
    const auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
  }

  const Json& require(const Json& object, std::string_view path, const char* key) const {
    const Json* value = find(object, path, key);
    if (value == nullptr) fail(join(path, key), "missing");
    return *value;
  }

  const Json& require_object(const Json& object, std::string_view path, const char* key) const {
    const Json& value = require(object, path, key);
    if (!value.is_object()) fail(join(path, key), "expected an object");
    return value;
  }

  const Json& require_array(const Json& object, std::string_view path, const char* key) const {
    const Json& value = require(object, path, key);
    if (!value.is_array()) fail(join(path, key), "expected an array");
    return value;
  }

  std::string string_value(const Json& value, std::string_view path) const {
    if (!value.is_string()) fail(path, "expected a string");
    return value.get<std::string>();
  }

  std::string require_string(const Json& object, std::string_view path, const char* key) const {
    return string_value(require(object, path, key), join(path, key));
  }

  std::optional<std::string> optional_string(const Json& object, std::string_view path,
                                             const char* key) const {
    const Json* value = find(object, path, key);
    if (value == nullptr) return std::nullopt;
    return string_value(*value, join(path, key));
  }

  bool bool_or(const Json& object, std::string_view path, const char* key, bool fallback) const {
    const Json* value = find(object, path, key);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) fail(join(path, key), "expected true or false");
    return value->get<bool>();
  }

  int32_t id_value(const Json& value, std::string_view path) const {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
        value.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      fail(path, "expected a token id (an integer from 0 to 2^31-1)");
    }
    return static_cast<int32_t>(value.get<int64_t>());
  }

  std::string component_type(const Json& component, std::string_view path) const {
    return require_string(component, path, "type");
  }

 private:
  std::string file_;
};

std::string at_index(std::string_view path, size_t index) {
  return str(path, "[", index, "]");
}

// ---------------------------------------------------------------------------------------------
// The BPE model.

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

struct Merge {
  int32_t rank;
  int32_t merged_id;
};

class BpeModel {
 public:
  StringMap<int32_t> vocab;
  std::unordered_map<int32_t, std::string> tokens_by_id;
  std::unordered_map<uint64_t, Merge> merges;
  std::optional<int32_t> unk_id;
  bool fuse_unk = false;
  bool ignore_merges = false;

  // Appends the ids of one pre-tokenized word (in byte-level form).
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const {
    if (word.empty()) return;
    if (ignore_merges) {
      if (const auto it = vocab.find(word); it != vocab.end()) {
        ids.push_back(it->second);
        return;
      }
    }
    const bool cacheable = word.size() < kMaxCachedWordBytes;
    if (cacheable) {
      std::lock_guard lock(cache_mutex_);
      if (const auto it = cache_.find(word); it != cache_.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int32_t> word_ids = merge_word(word);
    ids.insert(ids.end(), word_ids.begin(), word_ids.end());
    if (cacheable) {
      std::lock_guard lock(cache_mutex_);
      if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(word), std::move(word_ids));
    }
  }

 private:
  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kCacheCapacity = 10000;

  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool removed;
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t merged_id;
  };

  const Merge* find_merge(int32_t left, int32_t right) const {
    const auto it = merges.find(pair_key(left, right));
    return it == merges.end() ? nullptr : &it->second;
  }

  // Hugging Face's Word::merge_all: repeatedly apply the lowest-ranked merge (leftmost first).
  std::vector<int32_t> merge_word(std::string_view word) const {
    std::vector<Symbol> symbols;
    const auto add_symbol = [&](int32_t id) {
      const auto index = static_cast<int32_t>(symbols.size());
      if (index > 0) symbols.back().next = index;
      symbols.push_back({id, index - 1, -1, false});
    };
    std::optional<int32_t> pending_unk;
    for (size_t pos = 0; pos < word.size();) {
      const size_t start = pos;
      unicode::next_code_point(word, pos);
      if (const auto it = vocab.find(word.substr(start, pos - start)); it != vocab.end()) {
        if (pending_unk) add_symbol(*std::exchange(pending_unk, std::nullopt));
        add_symbol(it->second);
      } else if (unk_id) {
        if (pending_unk && !fuse_unk) add_symbol(*pending_unk);
        pending_unk = unk_id;
      }  // Without an unk token, Hugging Face drops characters missing from the vocabulary.
    }
    if (pending_unk) add_symbol(*pending_unk);

    const auto later = [](const Candidate& a, const Candidate& b) {
      return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    };
    std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> queue(later);
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (const Merge* merge = find_merge(symbols[i].id, symbols[i + 1].id)) {
        queue.push({merge->rank, static_cast<int32_t>(i), merge->merged_id});
      }
    }
    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& left = symbols[top.pos];
      if (left.removed || left.next < 0) continue;
      const int32_t right_pos = left.next;
      Symbol& right = symbols[right_pos];
      const Merge* current = find_merge(left.id, right.id);
      if (current == nullptr || current->merged_id != top.merged_id) continue;  // stale entry

      left.id = top.merged_id;
      left.next = right.next;
      right.removed = true;
      if (right.next >= 0) symbols[right.next].prev = top.pos;
      if (left.prev >= 0) {
        if (const Merge* merge = find_merge(symbols[left.prev].id, left.id)) {
          queue.push({merge->rank, left.prev, merge->merged_id});
        }
      }
      if (left.next >= 0) {
        if (const Merge* merge = find_merge(left.id, symbols[left.next].id)) {
          queue.push({merge->rank, top.pos, merge->merged_id});
        }
      }
    }
    std::vector<int32_t> ids;
    for (const Symbol& symbol : symbols) {
      if (!symbol.removed) ids.push_back(symbol.id);
    }
    return ids;
  }

  mutable std::mutex cache_mutex_;
  mutable StringMap<std::vector<int32_t>> cache_;
};

// ---------------------------------------------------------------------------------------------
// Added tokens: matched in the raw text before pre-tokenization, as Hugging Face's
// AddedVocabulary does (leftmost-longest; non-normalized tokens first, then normalized ones).

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

class TokenMatcher {
 public:
  void add(std::string_view content, int32_t id) {
    const auto index = static_cast<uint32_t>(patterns_.size());
    patterns_.push_back({std::string(content), id});
    auto& bucket = by_first_byte_[static_cast<unsigned char>(content.front())];
    bucket.push_back(index);
    // Longest first, so the first hit at a position is the longest one.
    std::stable_sort(bucket.begin(), bucket.end(), [&](uint32_t a, uint32_t b) {
      return patterns_[a].first.size() > patterns_[b].first.size();
    });
  }

  bool empty() const { return patterns_.empty(); }

  struct Match {
    size_t start;
    size_t end;
    int32_t id;
  };
  std::optional<Match> find(std::string_view text, size_t from) const {
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

 private:
  std::vector<std::pair<std::string, int32_t>> patterns_;
  std::array<std::vector<uint32_t>, 256> by_first_byte_;
};

class AddedVocabulary {
 public:
  // Hugging Face's AddedVocabulary::add_tokens for one token: a token already known (added or
  // in the model's vocabulary) keeps its id, a new one takes the next free id.
  int32_t add(const AddedToken& token, const BpeModel& model) {
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

  void build_matchers(const BpeModel& model) {
    for (const auto* list : {&special_tokens_, &plain_tokens_}) {
      for (const AddedToken& token : *list) {
        const int32_t id = *token_to_id(token.content, model);
        (token.normalized ? normalized_matcher_ : raw_matcher_).add(token.content, id);
      }
    }
  }

  std::optional<int32_t> token_to_id(std::string_view content, const BpeModel& model) const {
    if (const auto it = ids_by_content_.find(content); it != ids_by_content_.end()) {
      return it->second;
    }
    if (const auto it = model.vocab.find(content); it != model.vocab.end()) return it->second;
    return std::nullopt;
  }

  const AddedToken* token_for_id(int32_t id) const {
    const auto it = tokens_by_id_.find(id);
    return it == tokens_by_id_.end() ? nullptr : &it->second;
  }

  bool is_special(std::string_view content) const { return special_contents_.contains(content); }

  std::optional<int32_t> max_id() const {
    std::optional<int32_t> result;
    for (const auto& [id, token] : tokens_by_id_) result = std::max(result.value_or(id), id);
    return result;
  }

  // The text cut into added tokens and the (non-empty) text between them.
  std::vector<Segment> split(std::string_view text) const {
    std::vector<Segment> raw_split;
    split_on(text, raw_matcher_, raw_split);
    if (normalized_matcher_.empty()) return raw_split;
    std::vector<Segment> result;
    for (const Segment& segment : raw_split) {
      if (segment.added_id >= 0) {
        result.push_back(segment);
      } else {
        split_on(segment.text, normalized_matcher_, result);
      }
    }
    return result;
  }

 private:
  // Hugging Face's AddedVocabulary::find_matches, with the single_word/lstrip/rstrip flags.
  void split_on(std::string_view text, const TokenMatcher& matcher,
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

  StringMap<int32_t> ids_by_content_;
  std::unordered_map<int32_t, AddedToken> tokens_by_id_;
  std::vector<AddedToken> special_tokens_;  // in the order given
  std::vector<AddedToken> plain_tokens_;
  std::unordered_set<std::string, StringHash, std::equal_to<>> special_contents_;
  TokenMatcher raw_matcher_;
  TokenMatcher normalized_matcher_;
};

// ---------------------------------------------------------------------------------------------
// Post-processors reduce, for one sequence, to templates: special ids around the sequence.

struct TemplatePiece {
  bool is_sequence = false;
  std::vector<int32_t> ids;  // the special token's ids when !is_sequence
};
using Template = std::vector<TemplatePiece>;

std::vector<int32_t> apply_template(const Template& pieces, const std::vector<int32_t>& ids) {
  std::vector<int32_t> result;
  for (const TemplatePiece& piece : pieces) {
    const std::vector<int32_t>& part = piece.is_sequence ? ids : piece.ids;
    result.insert(result.end(), part.begin(), part.end());
  }
  return result;
}

struct ByteLevelOptions {
  bool add_prefix_space = true;
  bool use_regex = true;
};

// ---------------------------------------------------------------------------------------------
// Reading the components.

void read_model(const JsonReader& reader, const Json& root, BpeModel& model) {
  const Json& json = reader.require_object(root, "", "model");
  const std::string path = "model";
  const auto type = reader.optional_string(json, path, "type");
  if (type && *type != "BPE") {
    reader.fail("model.type", str("model type '", *type, "' is not supported (only BPE)"));
  }
  if (const Json* dropout = reader.find(json, path, "dropout")) {
    if (!dropout->is_number() || dropout->get<double>() != 0.0) {
      reader.fail("model.dropout", "BPE dropout is not supported (expected null)");
    }
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const auto affix = reader.optional_string(json, path, key); affix && !affix->empty()) {
      reader.fail(JsonReader::join(path, key),
                  str("'", *affix, "' is not supported (expected null)"));
    }
  }
  if (reader.bool_or(json, path, "byte_fallback", false)) {
    reader.fail("model.byte_fallback", "byte fallback is not supported (expected false)");
  }
  model.fuse_unk = reader.bool_or(json, path, "fuse_unk", false);
  model.ignore_merges = reader.bool_or(json, path, "ignore_merges", false);

  const Json& vocab = reader.require_object(json, path, "vocab");
  model.vocab.reserve(vocab.size());
  for (const auto& [token, id_json] : vocab.items()) {
    const int32_t id = reader.id_value(id_json, str("model.vocab[\"", token, "\"]"));
    model.vocab.emplace(token, id);
    model.tokens_by_id.emplace(id, token);
  }
  const auto id_of = [&](const std::string& token, std::string_view key) {
    const auto it = model.vocab.find(token);
    if (it == model.vocab.end()) reader.fail(key, str("token '", token, "' is not in model.vocab"));
    return it->second;
  };
  if (const auto unk = reader.optional_string(json, path, "unk_token")) {
    model.unk_id = id_of(*unk, "model.unk_token");
  }

  const Json& merges = reader.require_array(json, path, "merges");
  model.merges.reserve(merges.size());
  int32_t rank = 0;
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string key = at_index("model.merges", i);
    std::string left, right;
    if (merges[i].is_string()) {  // "left right"
      const std::string line = merges[i].get<std::string>();
      if (line.starts_with("#version")) continue;
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        reader.fail(key, str("expected two tokens separated by one space, got '", line, "'"));
      }
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else if (merges[i].is_array() && merges[i].size() == 2) {  // ["left", "right"]
      left = reader.string_value(merges[i][0], key);
      right = reader.string_value(merges[i][1], key);
    } else {
      reader.fail(key, "expected \"left right\" or [\"left\", \"right\"]");
    }
    const int32_t left_id = id_of(left, key);
    const int32_t right_id = id_of(right, key);
    const int32_t merged_id = id_of(left + right, key);
    // A repeated pair keeps its last rank, as Hugging Face's map insertion does.
    model.merges.insert_or_assign(pair_key(left_id, right_id), Merge{rank++, merged_id});
  }
}

void read_added_tokens(const JsonReader& reader, const Json& root, const BpeModel& model,
                       AddedVocabulary& added) {
  const Json* tokens = reader.find(root, "", "added_tokens");
  if (tokens == nullptr) return;
  if (!tokens->is_array()) reader.fail("added_tokens", "expected an array");
  for (size_t i = 0; i < tokens->size(); ++i) {
    const std::string path = at_index("added_tokens", i);
    const Json& entry = (*tokens)[i];
    AddedToken token;
    token.content = reader.require_string(entry, path, "content");
    token.special = reader.bool_or(entry, path, "special", false);
    token.single_word = reader.bool_or(entry, path, "single_word", false);
    token.lstrip = reader.bool_or(entry, path, "lstrip", false);
    token.rstrip = reader.bool_or(entry, path, "rstrip", false);
    token.normalized = reader.bool_or(entry, path, "normalized", !token.special);
    const int32_t expected_id = reader.id_value(reader.require(entry, path, "id"), path + ".id");
    const int32_t id = added.add(token, model);
    if (id >= 0 && id != expected_id) {
      // Hugging Face assigns the same id and warns the same way.
      spdlog::warn("tokenizer: added token '{}' was expected to have id {} but was given id {}",
                   token.content, expected_id, id);
    }
  }
  added.build_matchers(model);
}

void read_normalizer(const JsonReader& reader, const Json& root) {
  const Json* normalizer = reader.find(root, "", "normalizer");
  if (normalizer == nullptr) return;
  const std::string type = reader.component_type(*normalizer, "normalizer");
  if (type == "Sequence" &&
      reader.require_array(*normalizer, "normalizer", "normalizers").empty()) {
    return;  // an empty sequence changes nothing
  }
  reader.fail("normalizer.type", str("normalizer '", type, "' is not supported (expected null)"));
}

ByteLevelOptions read_byte_level(const JsonReader& reader, const Json& json,
                                 const std::string& path) {
  return {.add_prefix_space = reader.bool_or(json, path, "add_prefix_space", true),
          .use_regex = reader.bool_or(json, path, "use_regex", true)};
}

ByteLevelOptions read_pre_tokenizer(const JsonReader& reader, const Json& root) {
  const Json* json = reader.find(root, "", "pre_tokenizer");
  if (json == nullptr) {
    reader.fail("pre_tokenizer", "missing (a ByteLevel pre-tokenizer is required)");
  }
  const std::string type = reader.component_type(*json, "pre_tokenizer");
  if (type == "ByteLevel") return read_byte_level(reader, *json, "pre_tokenizer");
  if (type == "Sequence") {
    const Json& list = reader.require_array(*json, "pre_tokenizer", "pretokenizers");
    const std::string inner = "pre_tokenizer.pretokenizers[0]";
    if (list.size() == 1 && reader.component_type(list[0], inner) == "ByteLevel") {
      return read_byte_level(reader, list[0], inner);
    }
    reader.fail("pre_tokenizer.pretokenizers",
                "only a Sequence holding one ByteLevel is supported");
  }
  reader.fail("pre_tokenizer.type",
              str("pre-tokenizer '", type, "' is not supported (only ByteLevel)"));
}

std::pair<std::string, int32_t> read_token_and_id(const JsonReader& reader, const Json& json,
                                                  const std::string& path, const char* key) {
  const Json& pair = reader.require_array(json, path, key);
  const std::string pair_path = JsonReader::join(path, key);
  if (pair.size() != 2) reader.fail(pair_path, "expected [token, id]");
  return {reader.string_value(pair[0], pair_path), reader.id_value(pair[1], pair_path)};
}

Template read_template(const JsonReader& reader, const Json& json, const std::string& path) {
  const Json& special_tokens = reader.require_object(json, path, "special_tokens");
  const Json& single = reader.require_array(json, path, "single");
  Template pieces;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string piece_path = at_index(path + ".single", i);
    const Json& piece = single[i];
    if (const Json* sequence = reader.find(piece, piece_path, "Sequence")) {
      const std::string id = reader.require_string(*sequence, piece_path + ".Sequence", "id");
      if (id != "A") reader.fail(piece_path, str("the single template cannot use sequence ", id));
      pieces.push_back({true, {}});
    } else if (const Json* special = reader.find(piece, piece_path, "SpecialToken")) {
      const std::string name = reader.require_string(*special, piece_path + ".SpecialToken", "id");
      const Json* definition = reader.find(special_tokens, path + ".special_tokens", name.c_str());
      if (definition == nullptr) {
        reader.fail(path + ".special_tokens", str("no entry for special token '", name, "'"));
      }
      const std::string ids_path = str(path, ".special_tokens.", name);
      const Json& ids = reader.require_array(*definition, ids_path, "ids");
      TemplatePiece token_piece;
      for (size_t k = 0; k < ids.size(); ++k) {
        token_piece.ids.push_back(reader.id_value(ids[k], at_index(ids_path + ".ids", k)));
      }
      pieces.push_back(std::move(token_piece));
    } else {
      reader.fail(piece_path, "expected a Sequence or a SpecialToken");
    }
  }
  return pieces;
}

void read_post_processor(const JsonReader& reader, const Json& json, const std::string& path,
                         std::vector<Template>& out) {
  const std::string type = reader.component_type(json, path);
  if (type == "ByteLevel") return;  // only adjusts offsets
  if (type == "TemplateProcessing") {
    out.push_back(read_template(reader, json, path));
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    const int32_t cls = read_token_and_id(reader, json, path, "cls").second;
    const int32_t sep = read_token_and_id(reader, json, path, "sep").second;
    out.push_back({{false, {cls}}, {true, {}}, {false, {sep}}});
  } else if (type == "Sequence") {
    const Json& list = reader.require_array(json, path, "processors");
    for (size_t i = 0; i < list.size(); ++i) {
      read_post_processor(reader, list[i], at_index(path + ".processors", i), out);
    }
  } else {
    reader.fail(path + ".type", str("post-processor '", type, "' is not supported"));
  }
}

// True for a ByteLevel decoder, false for none (Hugging Face then joins tokens with spaces).
bool read_decoder(const JsonReader& reader, const Json& root) {
  const Json* json = reader.find(root, "", "decoder");
  if (json == nullptr) return false;
  const std::string type = reader.component_type(*json, "decoder");
  if (type != "ByteLevel") {
    reader.fail("decoder.type", str("decoder '", type, "' is not supported (only ByteLevel)"));
  }
  return true;
}

std::string read_file(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    throw Error(str("tokenizer file '", path.string(), "' does not exist or is not a file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw Error(str("tokenizer file '", path.string(), "' cannot be read"));
  return text.str();
}

}  // namespace

struct Tokenizer::Impl {
  BpeModel model;
  AddedVocabulary added;
  ByteLevelOptions pre_tokenizer;
  std::vector<Template> post_processors;  // applied in order when adding special tokens
  bool byte_level_decoder = true;
  int64_t vocab_size = 0;
};

Tokenizer Tokenizer::load(const std::filesystem::path& tokenizer_json) {
  const std::string file = tokenizer_json.string();
  const std::string text = read_file(tokenizer_json);
  auto impl = std::make_shared<Impl>();
  try {
    const Json root = Json::parse(text);
    if (!root.is_object()) throw Error(str("tokenizer file '", file, "': expected a JSON object"));
    const JsonReader reader(file);
    // "truncation" and "padding" are ignored, as transformers' encode ignores them by default.
    read_normalizer(reader, root);
    impl->pre_tokenizer = read_pre_tokenizer(reader, root);
    read_model(reader, root, impl->model);
    read_added_tokens(reader, root, impl->model, impl->added);
    if (const Json* post = reader.find(root, "", "post_processor")) {
      read_post_processor(reader, *post, "post_processor", impl->post_processors);
    }
    impl->byte_level_decoder = read_decoder(reader, root);
  } catch (const Json::parse_error& e) {
    throw Error(str("tokenizer file '", file, "' is not valid JSON: ", e.what()));
  } catch (const Json::exception& e) {  // a type the checks above missed: still the file's fault
    throw Error(str("tokenizer file '", file, "': ", e.what()));
  }
  int64_t max_id = -1;
  for (const auto& [token, id] : impl->model.vocab) max_id = std::max<int64_t>(max_id, id);
  max_id = std::max<int64_t>(max_id, impl->added.max_id().value_or(-1));
  impl->vocab_size = max_id + 1;
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (const auto offset = unicode::find_invalid_utf8(text)) {
    throw Error(str("Tokenizer::encode: the text is not valid UTF-8 (byte offset ", *offset, ")"));
  }
  const Impl& impl = *impl_;
  std::vector<int32_t> ids;
  std::string piece;
  std::string mapped;
  for (const Segment& segment : impl.added.split(text)) {
    if (segment.added_id >= 0) {
      ids.push_back(segment.added_id);
      continue;
    }
    // ByteLevel pre-tokenizer: applied to each stretch of text between added tokens.
    piece.clear();
    if (impl.pre_tokenizer.add_prefix_space && !segment.text.starts_with(' ')) piece += ' ';
    piece += segment.text;
    const std::vector<std::string_view> words = impl.pre_tokenizer.use_regex
                                                    ? byte_level::split_words(piece)
                                                    : std::vector<std::string_view>{piece};
    for (std::string_view word : words) {
      mapped.clear();
      byte_level::append_mapped(word, mapped);
      impl.model.tokenize(mapped, ids);
    }
  }
  if (add_special_tokens) {
    for (const Template& post_processor : impl.post_processors) {
      ids = apply_template(post_processor, ids);
    }
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const Impl& impl = *impl_;
  std::string out;
  bool first = true;
  for (const int32_t id : ids) {
    std::string_view token;
    if (const AddedToken* added = impl.added.token_for_id(id)) {
      token = added->content;
    } else if (const auto it = impl.model.tokens_by_id.find(id);
               it != impl.model.tokens_by_id.end()) {
      token = it->second;
    } else {
      throw Error(str("Tokenizer::decode: token id ", id, " is not in the vocabulary (",
                      impl.vocab_size, " ids)"));
    }
    if (skip_special_tokens && impl.added.is_special(token)) continue;
    if (impl.byte_level_decoder) {
      // A token with a character outside the byte map (e.g. an added token with a plain space)
      // contributes its own UTF-8 bytes, as in Hugging Face.
      if (!byte_level::append_unmapped(token, out)) out.append(token);
    } else {
      if (!first) out += ' ';
      out.append(token);
    }
    first = false;
  }
  return impl.byte_level_decoder ? unicode::utf8_lossy(out) : out;
}

int64_t Tokenizer::vocab_size() const {
  return impl_->vocab_size;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  return impl_->added.token_to_id(token, impl_->model);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* added = impl_->added.token_for_id(id)) return added->content;
  const auto it = impl_->model.tokens_by_id.find(id);
  if (it == impl_->model.tokens_by_id.end()) return std::nullopt;
  return it->second;
}

bool Tokenizer::is_special_token(int32_t id) const {
  const std::optional<std::string> token = id_to_token(id);
  return token && impl_->added.is_special(*token);
}

}  // namespace alisa
