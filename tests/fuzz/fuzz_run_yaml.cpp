// A run YAML (--config): load_run_config, which also validates its swa: options.
#include "runtime/jobs/run_config.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alisa;
  const auto path = fuzz::write_scratch("run.yaml", fuzz::as_text(data, size));
  fuzz::expect_ok_or_error([&] { (void)load_run_config(path); });
  return 0;
}
