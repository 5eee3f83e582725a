#include "runtime/program/kv_layout.h"

#include "policy/memory_plan.h"

namespace alisa {
KvLayout::KvLayout(int64_t capacity, int64_t rows_per_token, int64_t row_len, DType dense_dtype,
                   bool int8)
    : capacity_(capacity),
      rows_per_token_(rows_per_token),
      row_len_(row_len),
      dense_dtype_(dense_dtype),
      int8_(int8) {
  const size_t rows = static_cast<size_t>(rows_per_token);
  if (!int8) {
    part_token_bytes_[0] = rows * static_cast<size_t>(row_len) * dtype_size(dense_dtype);
  } else {
    part_token_bytes_[0] = rows * static_cast<size_t>(row_len);  // uint8 values
    part_token_bytes_[1] = part_token_bytes_[2] = rows * 2;      // f16 scale, f16 zero
  }
  size_t offset = 0;
  for (int part = 0; part < n_parts(); ++part) {
    part_offset_[part] = offset;
    offset = round_up(offset + static_cast<size_t>(capacity) * part_token_bytes_[part],
                      kKvPartAlignment);
  }
  stored_bytes_ = offset;
  ALISA_ASSERT(
      stored_bytes_ ==
          kv_part_bytes(static_cast<uint64_t>(rows_per_token), static_cast<uint64_t>(row_len),
                        static_cast<uint64_t>(capacity), int8, dtype_size(dense_dtype)),
      "the KV layout disagrees with the memory plan's");
}

size_t KvLayout::dense_bytes() const {
  return static_cast<size_t>(capacity_ * rows_per_token_ * row_len_) * dtype_size(dense_dtype_);
}

KvLayout::Rows KvLayout::stored_rows(Device* device, void* stored, int64_t first, int64_t n) const {
  ALISA_ASSERT(int8_ && first >= 0 && first + n <= capacity_, "int8 KV rows ", first, " + ", n);
  auto part = [&](int p) {
    return static_cast<char*>(stored) + part_offset_[p] +
           static_cast<size_t>(first) * part_token_bytes_[p];
  };
  const int64_t n_rows = n * rows_per_token_;
  return {.values = Tensor(part(0), device, DType::kU8, {n_rows, row_len_}),
          .scale = Tensor(part(1), device, DType::kF16, {n_rows}),
          .zero = Tensor(part(2), device, DType::kF16, {n_rows})};
}

Tensor KvLayout::dense_rows(Device* device, void* dense, int64_t first, int64_t n) const {
  const size_t row_bytes = static_cast<size_t>(row_len_) * dtype_size(dense_dtype_);
  return Tensor(
      static_cast<char*>(dense) + static_cast<size_t>(first * rows_per_token_) * row_bytes, device,
      dense_dtype_, {n * rows_per_token_, row_len_});
}

void KvLayout::dequantize(Ops& ops, Device* device, void* stored, void* dense, int64_t first,
                          int64_t n) const {
  if (n == 0) return;
  const Rows rows = stored_rows(device, stored, first, n);
  ops.dequantize_int8_rows(rows.values, rows.scale, rows.zero, dense_rows(device, dense, first, n));
}

void KvLayout::quantize(Ops& ops, Device* device, void* dense, void* stored, int64_t first,
                        int64_t n) const {
  if (n == 0) return;
  const Rows rows = stored_rows(device, stored, first, n);
  ops.quantize_int8_rows(dense_rows(device, dense, first, n), rows.values, rows.scale, rows.zero);
}

}  // namespace alisa
