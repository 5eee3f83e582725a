// Reading tokenizer.json's normalizer, pre-tokenizer and decoder. A component type or an option
// this tokenizer does not implement is refused with an alisa::Error naming it, the key and the
// file, rather than run with another meaning.
#pragma once

#include "runtime/text/decoder.h"
#include "runtime/text/json_reader.h"
#include "runtime/text/normalizer.h"
#include "runtime/text/pre_tokenizer.h"

namespace alisa::text {

Normalizer read_normalizer(const JsonReader& reader, const Json& root);
PreTokenizer read_pre_tokenizer(const JsonReader& reader, const Json& root);
Decoder read_decoder(const JsonReader& reader, const Json& root);

}  // namespace alisa::text
