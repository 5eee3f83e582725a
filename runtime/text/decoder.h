// Hugging Face decoders this tokenizer implements, applied in order to the list of token
// strings (a Sequence flattened), whose results are then concatenated: ByteLevel, Replace,
// ByteFallback, Fuse, Strip and Metaspace.
#pragma once

#include <cstddef>
#include <string>
#include <variant>
#include <vector>

#include "runtime/text/text_pattern.h"

namespace alisa::text {

struct ByteLevelDecoder {};  // GPT-2's byte map back to bytes, then lossy UTF-8

struct ReplaceDecoder {
  TextPattern pattern;
  std::string content;
};

struct ByteFallbackDecoder {};  // runs of <0xNN> tokens back to the text they encode

struct FuseDecoder {};  // all tokens into one

struct StripDecoder {
  char32_t content = U' ';
  size_t start = 0;  // at most this many `content` characters off each token's start
  size_t stop = 0;   // and off its end
};

struct MetaspaceDecoder {
  char32_t replacement = U'\u2581';
  bool drop_in_first_token = true;  // the prepend scheme is not "never"
};

using DecoderStep = std::variant<ByteLevelDecoder, ReplaceDecoder, ByteFallbackDecoder, FuseDecoder,
                                 StripDecoder, MetaspaceDecoder>;

struct Decoder {
  bool present = false;  // without a decoder, Hugging Face joins the tokens with spaces
  std::vector<DecoderStep> steps;

  std::string decode(std::vector<std::string> tokens) const;
};

}  // namespace alisa::text
