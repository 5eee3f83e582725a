// A sharded checkpoint's model.safetensors.index.json, beside two valid shards (shard-a and
// shard-b, tensors "a" and "b"): SafetensorsCheckpoint::open of the folder.
#include <vector>

#include "runtime/model/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void write_shards() {
  using namespace alisa;
  const float values[4] = {1, 2, 3, 4};
  write_safetensors(fuzz::scratch_dir() / "shard-a.safetensors",
                    {{.name = "a", .dtype = DType::kF32, .shape = {2, 2}, .data = values}});
  write_safetensors(fuzz::scratch_dir() / "shard-b.safetensors",
                    {{.name = "b", .dtype = DType::kF32, .shape = {4}, .data = values}});
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  write_shards();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alisa;
  fuzz::write_scratch("model.safetensors.index.json", fuzz::as_text(data, size));
  fuzz::expect_ok_or_error([&] {
    const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(fuzz::scratch_dir());
    for (const std::string& name : checkpoint.names()) {
      const SafetensorsEntry& entry = checkpoint.at(name);
      std::vector<char> raw(entry.n_bytes);
      checkpoint.read_raw(entry, raw.data());
    }
  });
  return 0;
}
