// `alisa forward --input`: read_forward_input's {"input_ids": [[..]], "attention_mask": [[..]]}.
#include <cstdlib>

#include "runtime/jobs/job_io.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alisa;
  const auto path = fuzz::write_scratch("input.json", fuzz::as_text(data, size));
  fuzz::expect_ok_or_error([&] {
    const ForwardInput input = read_forward_input(path);
    const auto cells = static_cast<size_t>(input.batch * input.seq_len);
    if (input.input_ids.size() != cells || input.attention_mask.size() != cells) std::abort();
  });
  return 0;
}
