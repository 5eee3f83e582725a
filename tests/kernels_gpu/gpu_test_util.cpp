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

void round_to(DType dtype, std::vector<float>& values) {
  if (dtype == DType::kF16) {
    for (float& v : values) v = half_bits_to_float(float_to_half_bits(v));
  } else if (dtype == DType::kBF16) {
    for (float& v : values) v = bf16_bits_to_float(float_to_bf16_bits(v));
  }
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

void encode(DType dtype, const std::vector<float>& values, void* dst) {
  if (dtype == DType::kF32) {
    std::memcpy(dst, values.data(), values.size() * sizeof(float));
    return;
  }
  ALISA_ASSERT(is_16bit(dtype), "encode: dtype ", dtype_name(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t bits =
        dtype == DType::kF16 ? float_to_half_bits(values[i]) : float_to_bf16_bits(values[i]);
    std::memcpy(static_cast<char*>(dst) + 2 * i, &bits, 2);  // dst may be raw bytes
  }
}

std::vector<uint8_t> encode(DType dtype, const std::vector<float>& values) {
  std::vector<uint8_t> bytes(values.size() * dtype_size(dtype));
  encode(dtype, values, bytes.data());
  return bytes;
}

float decode(DType dtype, const void* src, size_t i) {
  const char* at = static_cast<const char*>(src) + i * dtype_size(dtype);  // src may be raw bytes
  if (dtype == DType::kF32) {
    float f;
    std::memcpy(&f, at, 4);
    return f;
  }
  ALISA_ASSERT(is_16bit(dtype), "decode: dtype ", dtype_name(dtype));
  uint16_t bits;
  std::memcpy(&bits, at, 2);
  return dtype == DType::kF16 ? half_bits_to_float(bits) : bf16_bits_to_float(bits);
}

void copy_to_device(DType dtype, void* dst, const std::vector<float>& values) {
  const std::vector<uint8_t> bytes = encode(dtype, values);
  upload_bytes(dst, bytes.data(), bytes.size());
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
  const std::vector<uint8_t> bytes = download_raw<uint8_t>(src, n * dtype_size(dtype));
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = decode(dtype, bytes.data(), i);
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
