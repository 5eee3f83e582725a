// A hardware profile YAML: hardware_from_yaml; a profile it accepts must write back
// (hardware_to_yaml) to YAML that reads to the same profile.
#include <cstdlib>
#include <string>

#include "policy/hardware.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alisa;
  const std::string text(fuzz::as_text(data, size));
  fuzz::expect_ok_or_error([&] {
    const HardwareProfile profile = hardware_from_yaml(text, "hardware.yaml");
    const std::string written = hardware_to_yaml(profile);
    // Refusing what it wrote itself is a bug, not a bad input.
    try {
      if (hardware_to_yaml(hardware_from_yaml(written, "written.yaml")) != written) std::abort();
    } catch (const Error&) {
      std::abort();
    }
  });
  return 0;
}
