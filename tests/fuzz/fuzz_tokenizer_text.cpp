// Arbitrary bytes through the fixture tokenizers (../shared/fixtures, or $ALISA_FIXTURES_DIR):
// encode them as text, and decode them read as token ids (unknown ids included). The first byte
// picks the tokenizer and the special-token flags.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <vector>

#include "runtime/text/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

std::vector<alisa::Tokenizer>& tokenizers() {
  static std::vector<alisa::Tokenizer> loaded;
  return loaded;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* env = std::getenv("ALISA_FIXTURES_DIR");
  const std::filesystem::path fixtures = env != nullptr ? env : ALISA_FIXTURES_DIR;
  for (const char* name : {"tokenizer-bytelevel", "tokenizer-sentencepiece", "tokenizer-llama3"}) {
    try {
      tokenizers().push_back(alisa::Tokenizer::load(fixtures / name / "tokenizer.json"));
    } catch (const alisa::Error& e) {
      std::cerr << "fuzz_tokenizer_text: " << e.what() << " (set ALISA_FIXTURES_DIR)\n";
      std::exit(1);
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alisa;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const Tokenizer& tokenizer = tokenizers()[mode % tokenizers().size()];
  const bool add_special = (mode & 0x4) != 0;
  const bool skip_special = (mode & 0x8) != 0;
  const std::string_view bytes = fuzz::as_text(data + 1, size - 1);

  fuzz::expect_ok_or_error([&] {
    const std::vector<int32_t> ids = tokenizer.encode(bytes, add_special);
    // Every id encode gives must decode, and be known to the vocabulary.
    (void)tokenizer.decode(ids, skip_special);
    for (int32_t id : ids) {
      if (id < 0 || id >= tokenizer.vocab_size()) std::abort();
    }
  });
  // The same bytes as little-endian int16 ids: mostly in the vocabulary, some negative or beyond.
  std::vector<int32_t> ids(bytes.size() / 2);
  for (size_t i = 0; i < ids.size(); ++i) {
    int16_t id;
    std::memcpy(&id, bytes.data() + 2 * i, sizeof(id));
    ids[i] = id;
  }
  fuzz::expect_ok_or_error([&] { (void)tokenizer.decode(ids, skip_special); });
  return 0;
}
