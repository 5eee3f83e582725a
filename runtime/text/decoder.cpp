#include "runtime/text/decoder.h"

#include <optional>
#include <string_view>
#include <utility>

#include "runtime/text/byte_level.h"
#include "runtime/text/unicode_classes.h"

namespace alisa::text {
namespace {

using Tokens = std::vector<std::string>;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte of a "<0xNN>" token. The two characters are read as Rust's u8::from_str_radix
// reads them, which also takes "+N".
std::optional<unsigned char> fallback_byte(std::string_view token) {
  if (token.size() != 6 || !token.starts_with("<0x") || !token.ends_with('>')) return std::nullopt;
  const int high = hex_value(token[3]);
  const int low = hex_value(token[4]);
  if (token[3] == '+' && low >= 0) return static_cast<unsigned char>(low);
  if (high < 0 || low < 0) return std::nullopt;
  return static_cast<unsigned char>(high * 16 + low);
}

struct Apply {
  Tokens& tokens;

  void operator()(const ByteLevelDecoder&) const {
    std::string bytes;
    for (const std::string& token : tokens) {
      // A character outside the byte map (e.g. in an added token) keeps the token's own bytes.
      if (!byte_level::append_unmapped(token, bytes)) bytes.append(token);
    }
    tokens = {unicode::utf8_lossy(bytes)};
  }

  void operator()(const ReplaceDecoder& step) const {
    for (std::string& token : tokens) token = step.pattern.replace_all(token, step.content);
  }

  void operator()(const ByteFallbackDecoder&) const {
    Tokens out;
    std::string bytes;
    size_t byte_count = 0;
    const auto flush = [&] {
      if (byte_count == 0) return;
      if (unicode::find_invalid_utf8(bytes)) {
        for (size_t i = 0; i < byte_count; ++i) out.emplace_back("\uFFFD");  // one per byte
      } else {
        out.push_back(bytes);
      }
      bytes.clear();
      byte_count = 0;
    };
    for (std::string& token : tokens) {
      if (const auto byte = fallback_byte(token)) {
        bytes += static_cast<char>(*byte);
        ++byte_count;
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    tokens = std::move(out);
  }

  void operator()(const FuseDecoder&) const {
    std::string fused;
    for (const std::string& token : tokens) fused += token;
    tokens = {std::move(fused)};
  }

  void operator()(const StripDecoder& step) const {
    for (std::string& token : tokens) {
      const std::vector<char32_t> chars = unicode::decode_utf8(token).chars;
      size_t start_cut = 0;
      while (start_cut < step.start && start_cut < chars.size() &&
             chars[start_cut] == step.content) {
        ++start_cut;
      }
      size_t stop_cut = chars.size();
      for (size_t i = 0; i < step.stop && stop_cut > 0 && chars[stop_cut - 1] == step.content;
           ++i) {
        --stop_cut;
      }
      // Hugging Face panics where the cuts cross (a token of `content` only, cut from both ends).
      std::string stripped;
      for (size_t i = start_cut; i < stop_cut; ++i) unicode::append_utf8(chars[i], stripped);
      token = std::move(stripped);
    }
  }

  void operator()(const MetaspaceDecoder& step) const {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string decoded;
      for (const char32_t c : unicode::decode_utf8(tokens[i]).chars) {
        if (c != step.replacement) {
          unicode::append_utf8(c, decoded);
        } else if (i != 0 || !step.drop_in_first_token) {
          decoded += ' ';
        }
      }
      tokens[i] = std::move(decoded);
    }
  }
};

}  // namespace

std::string Decoder::decode(Tokens tokens) const {
  if (!present) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) joined += ' ';
      joined += tokens[i];
    }
    return joined;
  }
  for (const DecoderStep& step : steps) std::visit(Apply{tokens}, step);
  std::string out;
  for (const std::string& token : tokens) out += token;
  return out;
}

}  // namespace alisa::text
