#include "tests/kernels_gpu/gpu_test_util.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <limits>
#include <utility>

#include "kernels_gpu/cuda_check.cuh"
#include "tests/test_support.h"

namespace alisa::test {

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  ALISA_CUDA_CHECK(cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes));
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

uint16_t half_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t abs = x & 0x7fffffffu;
  // runtime/base/dtype.h's float_to_half_bits is right for normal results, inf and NaN, but rounds
  // results in the f16 subnormal range wrongly (it shifts one bit too far): redone here.
  if (abs >= 0x38800000u) return float_to_half_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  if (abs <= 0x33000000u) return sign;       // at most 2^-25: rounds to zero (2^-25 ties to even)
  const uint32_t shift = 126 - (abs >> 23);  // 14 .. 24
  const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
  uint32_t result = mantissa >> shift;
  const uint32_t rest = mantissa & ((1u << shift) - 1);
  const uint32_t halfway = 1u << (shift - 1);
  if (rest > halfway || (rest == halfway && (result & 1u))) ++result;
  return static_cast<uint16_t>(sign | result);
}

void round_to(DType dtype, std::vector<float>& values) {
  if (dtype != DType::kF16) return;
  for (float& v : values) v = half_bits_to_float(half_bits(v));
}

std::vector<float> random_rounded(DType dtype, size_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> values = random_floats(n, seed, lo, hi);
  round_to(dtype, values);
  return values;
}

void upload_bytes(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  ALISA_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void download_bytes(void* dst, const void* src, size_t bytes) {
  ALISA_CUDA_CHECK(cudaDeviceSynchronize());  // surfaces a kernel fault here, by name
  ALISA_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void copy_to_device(DType dtype, void* dst, const std::vector<float>& values) {
  if (dtype == DType::kF16) {
    std::vector<uint16_t> bits(values.size());
    for (size_t i = 0; i < values.size(); ++i) bits[i] = half_bits(values[i]);
    upload_bytes(dst, bits.data(), bits.size() * sizeof(uint16_t));
  } else {
    ALISA_ASSERT(dtype == DType::kF32, "copy_to_device: dtype ", dtype_name(dtype));
    upload_bytes(dst, values.data(), values.size() * sizeof(float));
  }
}

DeviceBuffer upload(DType dtype, const std::vector<float>& values) {
  DeviceBuffer buffer(values.size() * dtype_size(dtype));
  copy_to_device(dtype, buffer.get(), values);
  return buffer;
}

DeviceBuffer poisoned(DType dtype, size_t n) {
  return upload(dtype, std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()));
}

std::vector<float> download(DType dtype, const void* src, size_t n) {
  std::vector<float> values(n);
  if (dtype == DType::kF16) {
    std::vector<uint16_t> bits(n);
    download_bytes(bits.data(), src, n * sizeof(uint16_t));
    for (size_t i = 0; i < n; ++i) values[i] = half_bits_to_float(bits[i]);
  } else {
    ALISA_ASSERT(dtype == DType::kF32, "download: dtype ", dtype_name(dtype));
    download_bytes(values.data(), src, n * sizeof(float));
  }
  return values;
}

void check_close(const std::vector<float>& actual, const std::vector<double>& reference,
                 double rtol, double atol, const std::string& what) {
  REQUIRE(actual.size() == reference.size());
  const Comparison c = compare(actual.data(), reference.data(), reference.size(), rtol, atol);
  INFO(what << ": " << c.describe() << " (rtol " << rtol << ", atol " << atol << ", "
            << reference.size() << " elements)");
  CHECK(c.ok());
}

}  // namespace alisa::test
