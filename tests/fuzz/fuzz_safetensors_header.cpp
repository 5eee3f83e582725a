// A whole .safetensors file (length prefix, JSON header, data): SafetensorsCheckpoint::open
// validates it, then every tensor is read as the weight loader reads it.
#include <vector>

#include "runtime/model/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alisa;
  const auto path = fuzz::write_scratch("model.safetensors", fuzz::as_text(data, size));
  fuzz::expect_ok_or_error([&] {
    const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(path);
    for (const std::string& name : checkpoint.names()) {
      const SafetensorsEntry& entry = checkpoint.at(name);
      std::vector<char> raw(entry.n_bytes);
      checkpoint.read_raw(entry, raw.data());
      if (entry.dtype == DType::kF32 || entry.dtype == DType::kF16 || entry.dtype == DType::kBF16) {
        std::vector<float> values(static_cast<size_t>(entry.n_elements()));
        checkpoint.read_f32(entry, values.data());
      }
    }
  });
  return 0;
}
