// What both runners do at the end of a step: the logits to the host, or tokens sampled on the
// compute device from them with per-sequence keys.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/ops/ops.h"

namespace alisa {

// `logits` [rows, vocab] f32 on its device, copied to the host.
std::vector<float> logits_to_host(const Tensor& logits);

// One token per row of `logits` [rows, vocab]: `keys` (one per row) go through `keys_d` ([rows]
// u64 on the device), the tokens through `tokens_d` ([rows] i32).
std::vector<int32_t> sample_rows(Ops& ops, const Tensor& logits, const Tensor& keys_d,
                                 const Tensor& tokens_d, std::span<const uint64_t> keys,
                                 uint64_t step, const SamplingSettings& settings);

}  // namespace alisa
