#include "runtime/schedule/sampling.h"

#include "runtime/tiers/copy_engine.h"

namespace alisa {

std::vector<float> logits_to_host(const Tensor& logits) {
  std::vector<float> host(static_cast<size_t>(logits.numel()));
  copy_device_to_host(host.data(), logits);
  return host;
}

std::vector<int32_t> sample_rows(Ops& ops, const Tensor& logits, const Tensor& keys_d,
                                 const Tensor& tokens_d, std::span<const uint64_t> keys,
                                 uint64_t step, const SamplingSettings& settings) {
  const int64_t rows = logits.size(0);
  ALISA_ASSERT(static_cast<int64_t>(keys.size()) == rows, "one sampling key per sequence");
  copy_host_to_device(keys_d, keys.data());
  ops.sample(logits, keys_d, step, settings, tokens_d);
  std::vector<int32_t> tokens(static_cast<size_t>(rows));
  copy_device_to_host(tokens.data(), tokens_d);
  return tokens;
}

}  // namespace alisa
