// Reading a Hugging Face `tokenizer.json` into the parts of it this tokenizer implements: a BPE
// model, added tokens, the normalizer, the pre-tokenizer, post-processors and the decoder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "runtime/text/added_vocabulary.h"
#include "runtime/text/bpe.h"
#include "runtime/text/decoder.h"
#include "runtime/text/normalizer.h"
#include "runtime/text/pre_tokenizer.h"

namespace alisa::text {

// Post-processors reduce, for one sequence, to templates: special ids around the sequence.
struct TemplatePiece {
  bool is_sequence = false;
  std::vector<int32_t> ids;  // the special token's ids when !is_sequence
};
using Template = std::vector<TemplatePiece>;

struct TokenizerSpec {
  BpeModel model;
  AddedVocabulary added;
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  std::vector<Template> post_processors;  // applied in order when adding special tokens
  Decoder decoder;
  int64_t vocab_size = 0;  // largest id + 1 over the vocabulary and the added tokens
};

// Fills `spec` (fresh) from the file. Throws alisa::Error naming the file (and the key) when it
// is missing, not JSON, or uses a component this tokenizer does not implement.
void read_tokenizer_json(const std::filesystem::path& tokenizer_json, TokenizerSpec& spec);

}  // namespace alisa::text
