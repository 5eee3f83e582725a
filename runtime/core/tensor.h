// Tensor: a non-owning, strided view of memory on one device. Owners (weights, KV cache,
// workspaces) hold the Buffers; tensors only point into them.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "runtime/base/common.h"
#include "runtime/base/dtype.h"
#include "runtime/core/device.h"

namespace alisa {

constexpr int kMaxRank = 4;

class Tensor {
 public:
  Tensor() = default;
  // A contiguous view of `shape` starting at `data`.
  Tensor(void* data, Device* device, DType dtype, std::initializer_list<int64_t> shape);
  Tensor(void* data, Device* device, DType dtype, const int64_t* shape, int rank);

  bool empty() const { return data_ == nullptr; }
  void* data() const { return data_; }
  template <typename T>
  T* data_as() const {
    return static_cast<T*>(data_);
  }
  Device* device() const { return device_; }
  DType dtype() const { return dtype_; }
  int rank() const { return rank_; }
  int64_t size(int dim) const;
  int64_t stride(int dim) const;
  int64_t numel() const;
  size_t n_bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;
  std::string shape_string() const;  // "[2, 7, 64]"

  // View of indices [begin, end) along `dim`.
  Tensor slice(int dim, int64_t begin, int64_t end) const;
  // View with another shape over the same contiguous elements.
  Tensor reshape(std::initializer_list<int64_t> shape) const;
  // View with dimensions a and b swapped (strides follow).
  Tensor transpose(int a, int b) const;

 private:
  void set_contiguous_strides();

  void* data_ = nullptr;
  Device* device_ = nullptr;
  DType dtype_ = DType::kF32;
  int rank_ = 0;
  std::array<int64_t, kMaxRank> shape_{};
  std::array<int64_t, kMaxRank> strides_{};  // in elements
};

// A Buffer with a contiguous tensor over all of it.
struct OwnedTensor {
  Buffer buffer;
  Tensor tensor;
};

OwnedTensor allocate_tensor(Device& device, DType dtype, std::initializer_list<int64_t> shape,
                            std::string_view purpose);
OwnedTensor allocate_tensor(Device& device, DType dtype, const int64_t* shape, int rank,
                            std::string_view purpose);

}  // namespace alisa
