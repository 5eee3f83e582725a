// A tokenizer.json: Tokenizer::load, then a short text through the loaded pipeline both ways.
#include <cstdint>
#include <vector>

#include "runtime/text/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alisa;
  const auto path = fuzz::write_scratch("tokenizer.json", fuzz::as_text(data, size));
  fuzz::expect_ok_or_error([&] {
    const Tokenizer tokenizer = Tokenizer::load(path);
    const std::vector<int32_t> ids = tokenizer.encode("Hi, w\xc3\xb6rld!\n  def f(x): 42", true);
    (void)tokenizer.decode(ids, false);
    (void)tokenizer.decode(ids, true);
  });
  return 0;
}
