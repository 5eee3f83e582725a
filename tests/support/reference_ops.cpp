#include "tests/support/reference_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "runtime/base/common.h"

namespace alisa::reference {
namespace {

const float* f32(const void* p) {
  return static_cast<const float*>(p);
}

// x (+ residual) per row, the normalised input; residual_out, when given, receives it.
std::vector<double> norm_input(const NormParams& p, int64_t row, double* residual_out) {
  std::vector<double> s(static_cast<size_t>(p.dim));
  for (int64_t d = 0; d < p.dim; ++d) {
    s[d] = f32(p.x)[row * p.dim + d];
    if (p.residual != nullptr) s[d] += f32(p.residual)[row * p.dim + d];
    if (residual_out != nullptr) residual_out[row * p.dim + d] = s[d];
  }
  return s;
}

}  // namespace

void embedding(const EmbeddingParams& p, double* out) {
  ALISA_ASSERT(p.dtype == DType::kF32);
  for (int64_t t = 0; t < p.n_tokens; ++t) {
    const int64_t id = p.token_ids[t];
    ALISA_ASSERT(id >= 0 && id < p.vocab_size, "token id ", id);
    for (int64_t d = 0; d < p.dim; ++d) {
      double value = f32(p.table)[id * p.dim + d];
      if (p.position_table != nullptr) {
        const int64_t pos = p.position_ids[t];
        ALISA_ASSERT(pos >= 0 && pos < p.n_positions, "position id ", pos);
        value += f32(p.position_table)[pos * p.dim + d];
      }
      out[t * p.dim + d] = value;
    }
  }
}

void layer_norm(const NormParams& p, double* out, double* residual_out) {
  ALISA_ASSERT(p.dtype == DType::kF32);
  for (int64_t row = 0; row < p.n_rows; ++row) {
    const std::vector<double> s = norm_input(p, row, residual_out);
    double mean = 0;
    for (double v : s) mean += v;
    mean /= static_cast<double>(p.dim);
    double variance = 0;  // biased, like torch
    for (double v : s) variance += (v - mean) * (v - mean);
    variance /= static_cast<double>(p.dim);
    const double rstd = 1.0 / std::sqrt(variance + static_cast<double>(p.eps));
    for (int64_t d = 0; d < p.dim; ++d) {
      double value = (s[d] - mean) * rstd * f32(p.weight)[d];
      if (p.bias != nullptr) value += f32(p.bias)[d];
      out[row * p.dim + d] = value;
    }
  }
}

void rms_norm(const NormParams& p, double* out, double* residual_out) {
  ALISA_ASSERT(p.dtype == DType::kF32);
  for (int64_t row = 0; row < p.n_rows; ++row) {
    const std::vector<double> s = norm_input(p, row, residual_out);
    double squares = 0;
    for (double v : s) squares += v * v;
    const double inv =
        1.0 / std::sqrt(squares / static_cast<double>(p.dim) + static_cast<double>(p.eps));
    for (int64_t d = 0; d < p.dim; ++d) out[row * p.dim + d] = f32(p.weight)[d] * s[d] * inv;
  }
}

void linear(const LinearParams& p, double* y) {
  ALISA_ASSERT(p.dtype == DType::kF32 && p.weight_dtype == DType::kF32);
  const int64_t stride = p.x_row_stride != 0 ? p.x_row_stride : p.k;
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.n; ++j) {
      double sum = p.bias != nullptr ? f32(p.bias)[j] : 0.0;
      for (int64_t kk = 0; kk < p.k; ++kk) {
        sum += static_cast<double>(f32(p.x)[i * stride + kk]) * f32(p.weight)[j * p.k + kk];
      }
      y[i * p.n + j] = sum;
    }
  }
}

void activation(const ActivationParams& p, double* out) {
  ALISA_ASSERT(p.dtype == DType::kF32);
  const double pi = 3.14159265358979323846;
  for (int64_t i = 0; i < p.n; ++i) {
    const double x = f32(p.x)[i];
    double y = 0;
    switch (p.activation) {
      case Activation::kRelu:
        y = x > 0 ? x : 0;
        break;
      case Activation::kGelu:
        y = 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
        break;
      case Activation::kGeluTanh:
        y = 0.5 * x * (1 + std::tanh(std::sqrt(2 / pi) * (x + 0.044715 * x * x * x)));
        break;
      case Activation::kSilu:
        y = x / (1 + std::exp(-x));
        break;
    }
    if (p.up != nullptr) y *= f32(p.up)[i];
    out[i] = y;
  }
}

void add(const AddParams& p, double* out) {
  ALISA_ASSERT(p.dtype == DType::kF32);
  for (int64_t i = 0; i < p.n; ++i) {
    out[i] = static_cast<double>(f32(p.a)[i]) + static_cast<double>(f32(p.b)[i]);
  }
}

void rotary(const RotaryParams& p, double* out) {
  ALISA_ASSERT(p.dtype == DType::kF32 && p.rotary_dim % 2 == 0 && p.rotary_dim <= p.head_dim);
  const int64_t stride = p.token_stride != 0 ? p.token_stride : p.n_heads * p.head_dim;
  const int64_t half = p.rotary_dim / 2;
  for (int64_t t = 0; t < p.n_tokens; ++t) {
    for (int64_t h = 0; h < p.n_heads; ++h) {
      const float* x = f32(p.x) + t * stride + h * p.head_dim;
      double* o = out + (t * p.n_heads + h) * p.head_dim;
      for (int64_t d = 0; d < p.head_dim; ++d) o[d] = x[d];
      for (int64_t i = 0; i < half; ++i) {
        // The angle is HF's float32 product by definition; only cos/sin are taken in double.
        const double angle = static_cast<float>(p.position_ids[t]) * p.inv_freq[i];
        const double c = std::cos(angle), s = std::sin(angle);
        o[i] = x[i] * c - x[i + half] * s;
        o[i + half] = x[i + half] * c + x[i] * s;
      }
    }
  }
}

void attention(const AttentionParams& p, double* out) {
  ALISA_ASSERT(p.dtype == DType::kF32 && p.kv_dtype == DType::kF32);
  ALISA_ASSERT(p.n_kv_heads > 0 && p.n_heads % p.n_kv_heads == 0);
  const int64_t group = p.n_heads / p.n_kv_heads;
  std::vector<double> scores(static_cast<size_t>(p.n_kv_tokens));
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t i = 0; i < p.n_q; ++i) {
      for (int64_t h = 0; h < p.n_heads; ++h) {
        const float* q = f32(p.q) + b * p.q_batch_stride + i * p.q_token_stride + h * p.head_dim;
        const int64_t kv_offset = b * p.kv_batch_stride + (h / group) * p.head_dim;
        double* o = out + ((b * p.n_q + i) * p.n_heads + h) * p.head_dim;
        const int64_t last = std::min(p.q_start + i, p.n_kv_tokens - 1);
        double max_score = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j <= last; ++j) {
          if (p.key_mask[b * p.mask_batch_stride + j] == 0) continue;
          const float* k = f32(p.k) + kv_offset + j * p.kv_token_stride;
          double dot = 0;
          for (int64_t d = 0; d < p.head_dim; ++d) dot += static_cast<double>(q[d]) * k[d];
          scores[j] = dot * p.scale;
          max_score = std::max(max_score, scores[j]);
        }
        for (int64_t d = 0; d < p.head_dim; ++d) o[d] = 0;
        if (max_score == -std::numeric_limits<double>::infinity()) continue;  // nothing visible
        double sum = 0;
        for (int64_t j = 0; j <= last; ++j) {
          if (p.key_mask[b * p.mask_batch_stride + j] == 0) continue;
          const double weight = std::exp(scores[j] - max_score);
          sum += weight;
          const float* v = f32(p.v) + kv_offset + j * p.kv_token_stride;
          for (int64_t d = 0; d < p.head_dim; ++d) o[d] += weight * v[d];
        }
        for (int64_t d = 0; d < p.head_dim; ++d) o[d] /= sum;
      }
    }
  }
}

// Written independently of sampling_cpu: full sorts, normalised probabilities.
void sample(const SamplingParams& p, int32_t* out_tokens) {
  const int64_t stride = p.logits_row_stride != 0 ? p.logits_row_stride : p.vocab;
  for (int64_t row = 0; row < p.batch; ++row) {
    const float* logits = p.logits + row * stride;
    if (p.temperature == 0.0f) {
      int64_t best = 0;
      for (int64_t j = 0; j < p.vocab; ++j) {
        if (logits[j] > logits[best]) best = j;
      }
      out_tokens[row] = static_cast<int32_t>(best);
      continue;
    }
    std::vector<float> scaled(static_cast<size_t>(p.vocab));
    for (int64_t j = 0; j < p.vocab; ++j) scaled[j] = logits[j] / p.temperature;
    std::vector<int64_t> order(static_cast<size_t>(p.vocab));  // decreasing value
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return scaled[a] > scaled[b]; });
    std::vector<bool> kept(static_cast<size_t>(p.vocab), true);
    if (p.top_k > 0 && p.top_k < p.vocab) {
      const float kth = scaled[order[p.top_k - 1]];
      for (int64_t j = 0; j < p.vocab; ++j) kept[j] = scaled[j] >= kth;
    }
    const double max_value = scaled[order[0]];
    std::vector<double> prob(static_cast<size_t>(p.vocab), 0.0);
    double z = 0;
    for (int64_t j = 0; j < p.vocab; ++j) {
      if (kept[j]) z += std::exp(scaled[j] - max_value);
    }
    for (int64_t j = 0; j < p.vocab; ++j) {
      if (kept[j]) prob[j] = std::exp(scaled[j] - max_value) / z;
    }
    if (p.top_p < 1.0f) {
      double cumulative = 0;
      float cut = scaled[order[0]];
      for (int64_t j : order) {
        if (!kept[j]) continue;
        cumulative += prob[j];
        cut = scaled[j];
        if (cumulative >= p.top_p) break;
      }
      for (int64_t j = 0; j < p.vocab; ++j) kept[j] = kept[j] && scaled[j] >= cut;
    }
    double total = 0;
    for (int64_t j = 0; j < p.vocab; ++j) {
      if (kept[j]) total += prob[j];
    }
    const double target = counter_uniform(p.rng_keys[row], p.step) * total;
    double cumulative = 0;
    int32_t token = -1;
    for (int64_t j = 0; j < p.vocab && token < 0; ++j) {
      if (!kept[j]) continue;
      cumulative += prob[j];
      if (cumulative > target) token = static_cast<int32_t>(j);
    }
    if (token < 0) {  // rounding: the last kept token
      for (int64_t j = p.vocab - 1; j >= 0 && token < 0; --j) {
        if (kept[j]) token = static_cast<int32_t>(j);
      }
    }
    out_tokens[row] = token;
  }
}

}  // namespace alisa::reference
