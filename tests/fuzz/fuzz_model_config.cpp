// A config.json: model_spec_from_json, then what is computed from the spec before any weight is
// read (parameter count, the memory plan's footprint, the sliding-window check).
#include <string>

#include "runtime/model/model_spec.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alisa;
  const std::string text(fuzz::as_text(data, size));
  fuzz::expect_ok_or_error([&] {
    const ModelSpec spec = model_spec_from_json(text, "config.json");
    (void)spec.n_parameters();
    (void)model_footprint(spec);
    check_within_sliding_window(spec, 64);
  });
  return 0;
}
