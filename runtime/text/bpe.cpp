#include "runtime/text/bpe.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "runtime/text/unicode_classes.h"

namespace alisa::text {
namespace {

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

}  // namespace

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& ids) const {
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

const Merge* BpeModel::find_merge(int32_t left, int32_t right) const {
  const auto it = merges.find(pair_key(left, right));
  return it == merges.end() ? nullptr : &it->second;
}

// Hugging Face's Word::merge_all: repeatedly apply the lowest-ranked merge (leftmost first).
std::vector<int32_t> BpeModel::merge_word(std::string_view word) const {
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
    const std::string_view piece = word.substr(start, pos - start);
    if (const auto it = vocab.find(piece); it != vocab.end()) {
      if (pending_unk) add_symbol(*std::exchange(pending_unk, std::nullopt));
      add_symbol(it->second);
    } else if (byte_fallback && std::all_of(piece.begin(), piece.end(), [&](char byte) {
                 return byte_ids[static_cast<unsigned char>(byte)] >= 0;
               })) {
      // As in Hugging Face, a pending unk token is not flushed before the byte tokens.
      for (const char byte : piece) add_symbol(byte_ids[static_cast<unsigned char>(byte)]);
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

}  // namespace alisa::text
