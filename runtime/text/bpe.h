// The BPE model of a Hugging Face tokenizer: the vocabulary, the ranked merges and Hugging
// Face's merge algorithm, applied to one pre-tokenized word at a time; unknown characters become
// the unk token or, with byte_fallback, the <0xNN> tokens of their bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/text/string_map.h"

namespace alisa::text {

// The key of the merge of the pair (left, right) in BpeModel::merges.
uint64_t pair_key(int32_t left, int32_t right);

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
  bool byte_fallback = false;
  std::array<int32_t, 256> byte_ids{};  // the id of "<0xNN>" for byte NN, or -1

  // Appends the ids of one pre-tokenized word (in byte-level form). Safe to call from several
  // threads: the cache of merged words is locked.
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const;

 private:
  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kCacheCapacity = 10000;

  const Merge* find_merge(int32_t left, int32_t right) const;
  std::vector<int32_t> merge_word(std::string_view word) const;

  mutable std::mutex cache_mutex_;
  mutable StringMap<std::vector<int32_t>> cache_;
};

}  // namespace alisa::text
