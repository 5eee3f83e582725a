// A BPE tokenizer read from a Hugging Face `tokenizer.json`, giving the same ids and text as
// Hugging Face tokenizers: byte-level BPE (GPT-2 / OPT / RoBERTa; Llama-3 / Qwen with a regex
// Split before the byte map) and SentencePiece-style BPE with byte fallback (LLaMA-2 /
// Mistral). Components it does not implement are refused when loading.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace alisa {

class Tokenizer {
 public:
  // Throws alisa::Error naming the file (and the key) when it is missing, not JSON, or uses a
  // component this tokenizer does not implement.
  static Tokenizer load(const std::filesystem::path& tokenizer_json);

  // `text` must be valid UTF-8 (alisa::Error names the offending byte offset otherwise).
  // add_special_tokens applies the post-processor (e.g. BOS/EOS of a TemplateProcessing).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;

  // Ill-formed UTF-8 in the decoded bytes becomes U+FFFD; an unknown id is an alisa::Error.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  int64_t vocab_size() const;  // largest id + 1 over the vocabulary and the added tokens
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special_token(int32_t id) const;  // an added token marked "special"

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // immutable but for the merge cache; copies share it
};

}  // namespace alisa
