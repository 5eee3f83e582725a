#include "kernels_cpu/linear_cpu.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "runtime/base/common.h"

namespace alisa {
namespace {

std::string shape_of(const LinearParams& p, int64_t x_row_stride) {
  return str("linear m=", p.m, " n=", p.n, " k=", p.k, " x_row_stride=", x_row_stride,
             " bias=", p.bias != nullptr ? "yes" : "no");
}

}  // namespace

LinearCpu::LinearCpu() {
  try {
    engine_ = dnnl::engine(dnnl::engine::kind::cpu, 0);
    stream_ = dnnl::stream(engine_);
  } catch (const dnnl::error& e) {
    throw InternalError(str("oneDNN CPU engine: ", e.what(), " (status ", e.status, ")"));
  }
}

const LinearCpu::Entry& LinearCpu::entry_for(const Key& key) {
  auto found = primitives_.find(key);
  if (found != primitives_.end()) return found->second;
  using dims = dnnl::memory::dims;
  using dt = dnnl::memory::data_type;
  Entry e;
  e.x_desc = dnnl::memory::desc(dims{key.m, key.k}, dt::f32, dims{key.x_row_stride, 1});
  e.weight_desc = dnnl::memory::desc(dims{key.k, key.n}, dt::f32, dims{1, key.k});
  e.y_desc = dnnl::memory::desc(dims{key.m, key.n}, dt::f32, dims{key.n, 1});
  if (key.has_bias) {
    e.bias_desc = dnnl::memory::desc(dims{1, key.n}, dt::f32, dims{key.n, 1});
    const dnnl::matmul::desc desc(e.x_desc, e.weight_desc, e.bias_desc, e.y_desc);
    e.primitive = dnnl::matmul(dnnl::matmul::primitive_desc(desc, engine_));
  } else {
    const dnnl::matmul::desc desc(e.x_desc, e.weight_desc, e.y_desc);
    e.primitive = dnnl::matmul(dnnl::matmul::primitive_desc(desc, engine_));
  }
  return primitives_.emplace(key, std::move(e)).first->second;
}

void LinearCpu::run(const LinearParams& p) {
  ALISA_ASSERT(p.dtype == DType::kF32 && p.weight_dtype == DType::kF32,
               "LinearCpu takes float32, got x ", dtype_name(p.dtype), ", weight ",
               dtype_name(p.weight_dtype));
  const int64_t x_row_stride = p.x_row_stride != 0 ? p.x_row_stride : p.k;
  ALISA_ASSERT(p.m >= 0 && p.n >= 0 && p.k >= 0 && x_row_stride >= p.k, shape_of(p, x_row_stride));
  if (p.m == 0 || p.n == 0) return;
  ALISA_ASSERT(p.x != nullptr && p.weight != nullptr && p.y != nullptr, shape_of(p, x_row_stride));
  float* y = static_cast<float*>(p.y);  // [m, n]
  if (p.k == 0) {                       // an empty sum: oneDNN rejects zero-sized reductions
    const float* bias = static_cast<const float*>(p.bias);  // [n]
    for (int64_t i = 0; i < p.m; ++i) {
      for (int64_t j = 0; j < p.n; ++j) y[i * p.n + j] = bias != nullptr ? bias[j] : 0.0f;
    }
    return;
  }
  try {
    const Entry& e = entry_for(Key{p.m, p.n, p.k, x_row_stride, p.bias != nullptr});
    // oneDNN memory objects over the caller's buffers: no copies.
    dnnl::memory x(e.x_desc, engine_, const_cast<void*>(p.x));
    dnnl::memory weight(e.weight_desc, engine_, const_cast<void*>(p.weight));
    dnnl::memory out(e.y_desc, engine_, p.y);
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, weight}, {DNNL_ARG_DST, out}};
    if (p.bias != nullptr) {
      args.emplace(DNNL_ARG_BIAS, dnnl::memory(e.bias_desc, engine_, const_cast<void*>(p.bias)));
    }
    e.primitive.execute(stream_, args);
    stream_.wait();
  } catch (const dnnl::error& err) {
    throw InternalError(str("oneDNN matmul failed for ", shape_of(p, x_row_stride), ": ",
                            err.what(), " (status ", err.status, ")"));
  }
}

}  // namespace alisa
