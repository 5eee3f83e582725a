#include "runtime/text/tokenizer.h"

#include <string>
#include <utility>

#include "runtime/base/common.h"
#include "runtime/text/byte_level.h"
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
