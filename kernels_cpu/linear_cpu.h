// y = x W^T + bias on the CPU through oneDNN's matmul, float32, with W in HF layout [n, k].
#pragma once

#include <compare>
#include <cstdint>
#include <map>

#include <oneapi/dnnl/dnnl.hpp>

#include "runtime/base/kernel_params.h"

namespace alisa {

// Owns a oneDNN CPU engine and stream, and caches one matmul primitive per shape, so a layer
// program calling the same shapes every step builds each primitive once. Not thread-safe; call
// it from the thread that owns the oneDNN (OpenMP) threads, never from inside a TBB task.
class LinearCpu {
 public:
  LinearCpu();
  // Throws InternalError (naming the shape) when oneDNN fails.
  void run(const LinearParams& p);
  size_t n_cached_primitives() const { return primitives_.size(); }

 private:
  struct Key {
    int64_t m, n, k, x_row_stride;
    bool has_bias;
    auto operator<=>(const Key&) const = default;
  };
  struct Entry {
    dnnl::matmul primitive;
    dnnl::memory::desc x_desc;       // [m, k], rows x_row_stride apart
    dnnl::memory::desc weight_desc;  // [k, n], a transposed view of the [n, k] weight
    dnnl::memory::desc bias_desc;    // [1, n]
    dnnl::memory::desc y_desc;       // [m, n]
  };
  const Entry& entry_for(const Key& key);

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::map<Key, Entry> primitives_;
};

}  // namespace alisa
