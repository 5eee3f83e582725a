// A policy YAML: policy_from_yaml; a policy it accepts must write back (policy_to_yaml) to YAML
// that reads to the same policy.
#include <cstdlib>
#include <string>

#include "policy/policy.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alisa;
  const std::string text(fuzz::as_text(data, size));
  fuzz::expect_ok_or_error([&] {
    const Policy policy = policy_from_yaml(text, "policy.yaml");
    const std::string written = policy_to_yaml(policy);
    // Not inside expect_ok_or_error's reach: refusing what it wrote itself is a bug.
    try {
      if (policy_to_yaml(policy_from_yaml(written, "written.yaml")) != written) std::abort();
    } catch (const Error&) {
      std::abort();
    }
  });
  return 0;
}
