// How the K (or V) cache of one layer and GPU batch is stored. Token-major, [capacity,
// gpu_batch_size, n_kv_heads, head_dim], so that a prefix of tokens is one contiguous range of
// each part on every tier. Dense: one part, the values in the activation dtype. int8
// (compress_cache): the uint8 values, then an f16 scale, then an f16 zero per row, a row being
// one token of one KV head (FlexGen's per-token, per-head grouping).
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/ops/ops.h"

namespace alisa {

class KvLayout {
 public:
  KvLayout() = default;
  KvLayout(int64_t capacity, int64_t rows_per_token, int64_t row_len, DType dense_dtype, bool int8);

  bool int8() const { return int8_; }
  int n_parts() const { return int8_ ? 3 : 1; }
  size_t part_offset(int part) const { return part_offset_[part]; }
  size_t part_token_bytes(int part) const { return part_token_bytes_[part]; }
  size_t stored_bytes() const { return stored_bytes_; }
  // The whole cache in the dense dtype (what attention reads).
  size_t dense_bytes() const;

  // dense tokens [first, first + n) = the stored ones, dequantised (int8 layouts only).
  void dequantize(Ops& ops, Device* device, void* stored, void* dense, int64_t first,
                  int64_t n) const;
  // stored tokens [first, first + n) = the dense ones, quantised (int8 layouts only).
  void quantize(Ops& ops, Device* device, void* dense, void* stored, int64_t first,
                int64_t n) const;

 private:
  struct Rows {
    Tensor values, scale, zero;
  };
  Rows stored_rows(Device* device, void* stored, int64_t first, int64_t n) const;
  Tensor dense_rows(Device* device, void* dense, int64_t first, int64_t n) const;

  int64_t capacity_ = 0;
  int64_t rows_per_token_ = 0;
  int64_t row_len_ = 0;
  DType dense_dtype_ = DType::kF32;
  bool int8_ = false;
  size_t part_offset_[3] = {};
  size_t part_token_bytes_[3] = {};
  size_t stored_bytes_ = 0;
};

}  // namespace alisa
