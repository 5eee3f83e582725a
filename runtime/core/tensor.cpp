#include "runtime/core/tensor.h"

#include <utility>

namespace alisa {

Tensor::Tensor(void* data, Device* device, DType dtype, std::initializer_list<int64_t> shape)
    : Tensor(data, device, dtype, shape.begin(), static_cast<int>(shape.size())) {}

Tensor::Tensor(void* data, Device* device, DType dtype, const int64_t* shape, int rank)
    : data_(data), device_(device), dtype_(dtype), rank_(rank) {
  ALISA_ASSERT(rank >= 1 && rank <= kMaxRank, "rank ", rank);
  for (int d = 0; d < rank; ++d) {
    ALISA_ASSERT(shape[d] >= 0, "negative dimension");
    shape_[d] = shape[d];
  }
  set_contiguous_strides();
}

void Tensor::set_contiguous_strides() {
  int64_t stride = 1;
  for (int d = rank_ - 1; d >= 0; --d) {
    strides_[d] = stride;
    stride *= shape_[d];
  }
}

int64_t Tensor::size(int dim) const {
  if (dim < 0) dim += rank_;
  ALISA_ASSERT(dim >= 0 && dim < rank_, "dim ", dim, " of ", shape_string());
  return shape_[dim];
}

int64_t Tensor::stride(int dim) const {
  if (dim < 0) dim += rank_;
  ALISA_ASSERT(dim >= 0 && dim < rank_, "dim ", dim, " of ", shape_string());
  return strides_[dim];
}

int64_t Tensor::numel() const {
  if (rank_ == 0) return 0;
  int64_t n = 1;
  for (int d = 0; d < rank_; ++d) n *= shape_[d];
  return n;
}

bool Tensor::is_contiguous() const {
  int64_t stride = 1;
  for (int d = rank_ - 1; d >= 0; --d) {
    if (shape_[d] != 1 && strides_[d] != stride) return false;
    stride *= shape_[d];
  }
  return true;
}

std::string Tensor::shape_string() const {
  return shape_text(shape_.data(), static_cast<size_t>(rank_));
}

Tensor Tensor::slice(int dim, int64_t begin, int64_t end) const {
  if (dim < 0) dim += rank_;
  ALISA_ASSERT(dim >= 0 && dim < rank_ && 0 <= begin && begin <= end && end <= shape_[dim],
               "slice ", dim, " [", begin, ", ", end, ") of ", shape_string());
  Tensor view = *this;
  view.data_ =
      static_cast<char*>(data_) + static_cast<size_t>(begin * strides_[dim]) * dtype_size(dtype_);
  view.shape_[dim] = end - begin;
  return view;
}

Tensor Tensor::reshape(std::initializer_list<int64_t> shape) const {
  ALISA_ASSERT(is_contiguous(), "reshape of a strided view ", shape_string());
  Tensor view(data_, device_, dtype_, shape);
  ALISA_ASSERT(view.numel() == numel(), "reshape ", shape_string(), " to ", view.shape_string());
  return view;
}

Tensor Tensor::transpose(int a, int b) const {
  if (a < 0) a += rank_;
  if (b < 0) b += rank_;
  ALISA_ASSERT(a >= 0 && a < rank_ && b >= 0 && b < rank_, "transpose ", a, ", ", b, " of ",
               shape_string());
  Tensor view = *this;
  std::swap(view.shape_[a], view.shape_[b]);
  std::swap(view.strides_[a], view.strides_[b]);
  return view;
}

OwnedTensor allocate_tensor(Device& device, DType dtype, const int64_t* shape, int rank,
                            std::string_view purpose) {
  OwnedTensor owned;
  Tensor probe(nullptr, &device, dtype, shape, rank);
  owned.buffer = device.allocate(probe.n_bytes(), purpose);
  owned.tensor = Tensor(owned.buffer.data(), &device, dtype, shape, rank);
  return owned;
}

OwnedTensor allocate_tensor(Device& device, DType dtype, std::initializer_list<int64_t> shape,
                            std::string_view purpose) {
  return allocate_tensor(device, dtype, shape.begin(), static_cast<int>(shape.size()), purpose);
}

}  // namespace alisa
