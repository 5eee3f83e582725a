#include "runtime/text/tokenizer.h"

#include <string>
#include <utility>

#include "runtime/base/common.h"
#include "runtime/text/tokenizer_json.h"
#include "runtime/text/unicode_classes.h"

namespace alisa {
namespace {

using text::AddedToken;
using text::Segment;
using text::Template;
using text::TemplatePiece;

std::vector<int32_t> apply_template(const Template& pieces, const std::vector<int32_t>& ids) {
  std::vector<int32_t> result;
  for (const TemplatePiece& piece : pieces) {
    const std::vector<int32_t>& part = piece.is_sequence ? ids : piece.ids;
    result.insert(result.end(), part.begin(), part.end());
  }
  return result;
}

}  // namespace

struct Tokenizer::Impl : text::TokenizerSpec {};

Tokenizer Tokenizer::load(const std::filesystem::path& tokenizer_json) {
  auto impl = std::make_shared<Impl>();
  text::read_tokenizer_json(tokenizer_json, *impl);
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (const auto offset = unicode::find_invalid_utf8(text)) {
    throw Error(str("Tokenizer::encode: the text is not valid UTF-8 (byte offset ", *offset, ")"));
  }
  const Impl& impl = *impl_;
  std::vector<int32_t> ids;
  std::vector<std::string> words;
  // Hugging Face's order: added tokens in the raw text; the normalizer on the text between them;
  // added tokens in the normalized text; the pre-tokenizer and the model on what remains.
  for (const Segment& raw : impl.added.split(text, /*normalized=*/false)) {
    if (raw.added_id >= 0) {
      ids.push_back(raw.added_id);
      continue;
    }
    const std::string normalized = impl.normalizer.apply(raw.text);
    for (const Segment& segment : impl.added.split(normalized, /*normalized=*/true)) {
      if (segment.added_id >= 0) {
        ids.push_back(segment.added_id);
        continue;
      }
      const bool at_origin =
          raw.text.data() == text.data() && segment.text.data() == normalized.data();
      words.clear();
      impl.pre_tokenizer.apply(segment.text, at_origin, words);
      for (const std::string& word : words) impl.model.tokenize(word, ids);
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
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    std::string_view token;
    if (const auto added = impl.added.decoding_text(id)) {
      token = *added;
    } else if (const auto it = impl.model.tokens_by_id.find(id);
               it != impl.model.tokens_by_id.end()) {
      token = it->second;
    } else {
      throw Error(str("Tokenizer::decode: token id ", id, " is not in the vocabulary (",
                      impl.vocab_size, " ids)"));
    }
    // As in Hugging Face, a special token is recognised by the text decoding shows for it.
    if (skip_special_tokens && impl.added.is_special(token)) continue;
    tokens.emplace_back(token);
  }
  return impl.decoder.decode(std::move(tokens));
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
