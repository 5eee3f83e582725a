// Helpers of the GPU kernel tests: device buffers, f16 / bf16 rounding on upload, NaN poisoning,
// tolerances per dtype.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/base/dtype.h"

namespace alisa::test {

// Device memory, freed when the object goes away.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// The float dtypes the GPU kernels take (bf16 last: the f16 and f32 cases keep their seeds).
constexpr DType kFloatDtypes[] = {DType::kF16, DType::kF32, DType::kBF16};

// Whether `dtype` is one of the 16-bit floats (f16, bf16): their kernels share the 16-bit paths.
constexpr bool is_16bit(DType dtype) {
  return dtype == DType::kF16 || dtype == DType::kBF16;
}

// A tolerance for `dtype`, given the f32 one and the f16 one. f16 keeps 11 significant bits
// (unit roundoff 2^-11), bf16 only 8 (2^-8): each of its roundings errs 8 times as much, so bf16
// gets 8 * f16_tol (the f16 tolerances are written as a few f16 roundings).
constexpr double tolerance_for(DType dtype, double f32_tol, double f16_tol) {
  return dtype == DType::kF32 ? f32_tol : dtype == DType::kBF16 ? 8 * f16_tol : f16_tol;
}

// Rounds every value to `dtype` (f16, bf16: round to nearest even; f32: unchanged), in place, so
// the reference sees exactly what the kernel sees.
void round_to(DType dtype, std::vector<float>& values);

// Random values in [lo, hi), already rounded to `dtype`.
std::vector<float> random_rounded(DType dtype, size_t n, uint64_t seed, float lo = -1.0f,
                                  float hi = 1.0f);

// `values` as `dtype` elements (f16, bf16 rounded to nearest even; f32) at host address dst.
void encode(DType dtype, const std::vector<float>& values, void* dst);
// The same as bytes.
std::vector<uint8_t> encode(DType dtype, const std::vector<float>& values);

// Element i of `dtype` elements at host address src, as a float.
float decode(DType dtype, const void* src, size_t i);

// A device copy of `values` in `dtype` (f16, bf16 or f32); values must already be representable.
DeviceBuffer upload(DType dtype, const std::vector<float>& values);

// Copies `values` as `dtype` elements to device address `dst`.
void copy_to_device(DType dtype, void* dst, const std::vector<float>& values);

// `base` advanced by n elements of `dtype` (to build strided or misaligned views).
inline void* advance(void* base, DType dtype, size_t n) {
  return static_cast<char*>(base) + n * dtype_size(dtype);
}

// Plain copies; download_bytes first waits for the device, so kernel faults surface there.
void upload_bytes(void* dst, const void* src, size_t bytes);
void download_bytes(void* dst, const void* src, size_t bytes);

// A device copy of raw elements (ids, masks, keys).
template <typename T>
DeviceBuffer upload_raw(const std::vector<T>& values) {
  DeviceBuffer buffer(values.size() * sizeof(T));
  upload_bytes(buffer.get(), values.data(), values.size() * sizeof(T));
  return buffer;
}

// n elements of `dtype`, all NaN: an element the kernel leaves unwritten fails the comparison.
DeviceBuffer poisoned(DType dtype, size_t n);

// Waits for the device, then copies n elements of `dtype` back as floats.
std::vector<float> download(DType dtype, const void* src, size_t n);

template <typename T>
std::vector<T> download_raw(const void* src, size_t n) {
  std::vector<T> values(n);
  download_bytes(values.data(), src, n * sizeof(T));
  return values;
}

// Catch2 checks: same size, every element within atol + rtol * |ref|, no NaN or inf, and not
// all zeros unless the reference is. `what` names the case in the failure message.
void check_close(const std::vector<float>& actual, const std::vector<double>& reference,
                 double rtol, double atol, const std::string& what);

}  // namespace alisa::test
