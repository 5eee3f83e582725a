#include "kernels_cpu/activation_cpu.h"

#include <cmath>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "runtime/base/common.h"

namespace alisa {
namespace {

// The formulas of torch's float32 CPU kernels.
struct Relu {
  float operator()(float x) const { return x > 0.0f ? x : 0.0f; }
};
struct Gelu {
  float operator()(float x) const { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
};
struct GeluTanh {
  float operator()(float x) const {
    const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);  // sqrt(2/pi)
    return 0.5f * x * (1.0f + std::tanh(inner));
  }
};
struct Silu {
  float operator()(float x) const { return x / (1.0f + std::exp(-x)); }
};

template <typename Act>
void run(const ActivationParams& p, Act act) {
  const float* x = static_cast<const float*>(p.x);    // [n]
  const float* up = static_cast<const float*>(p.up);  // [n]
  float* out = static_cast<float*>(p.out);            // [n]
  auto range = [&](const tbb::blocked_range<int64_t>& r) {
    if (up != nullptr) {
      for (int64_t i = r.begin(); i < r.end(); ++i) out[i] = act(x[i]) * up[i];
    } else {
      for (int64_t i = r.begin(); i < r.end(); ++i) out[i] = act(x[i]);
    }
  };
  constexpr int64_t kGrain = 16384;
  if (p.n < 2 * kGrain) {
    range(tbb::blocked_range<int64_t>(0, p.n));
  } else {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, p.n, kGrain), range);
  }
}

}  // namespace

void activation_cpu(const ActivationParams& p) {
  ALISA_ASSERT(p.dtype == DType::kF32, "activation_cpu takes float32, got ", dtype_name(p.dtype));
  ALISA_ASSERT(p.n >= 0, "n=", p.n);
  if (p.n == 0) return;
  ALISA_ASSERT(p.x != nullptr && p.out != nullptr);
  switch (p.activation) {
    case Activation::kRelu:
      return run(p, Relu{});
    case Activation::kGelu:
      return run(p, Gelu{});
    case Activation::kGeluTanh:
      return run(p, GeluTanh{});
    case Activation::kSilu:
      return run(p, Silu{});
  }
  ALISA_ASSERT(false, "unknown activation ", static_cast<int>(p.activation));
}

}  // namespace alisa
