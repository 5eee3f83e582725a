#include "kernels_cpu/swa_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "kernels_cpu/parallel_rows.h"
#include "kernels_cpu/swa_select_cpu.h"
#include "runtime/base/common.h"
#include "runtime/base/dtype.h"

namespace alisa {
namespace {

float load(const void* base, DType dtype, int64_t i) {
  if (dtype == DType::kF16) return half_bits_to_float(static_cast<const uint16_t*>(base)[i]);
  if (dtype == DType::kBF16) return bf16_bits_to_float(static_cast<const uint16_t*>(base)[i]);
  return static_cast<const float*>(base)[i];
}

void store(void* base, DType dtype, int64_t i, float value) {
  if (dtype == DType::kF16) {
    static_cast<uint16_t*>(base)[i] = float_to_half_bits(value);
  } else if (dtype == DType::kBF16) {
    static_cast<uint16_t*>(base)[i] = float_to_bf16_bits(value);
  } else {
    static_cast<float*>(base)[i] = value;
  }
}

// Query head h's heads range in group g: [begin, end).
struct HeadRange {
  int64_t begin = 0, end = 0;
};
HeadRange group_heads(int64_t g, int64_t groups, int64_t n_heads) {
  return groups == 1 ? HeadRange{0, n_heads} : HeadRange{g, g + 1};
}

// The vector clones of the hot loops (the build targets baseline x86-64).
#if defined(__x86_64__) && defined(__GNUC__)
#define ALISA_SWA_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ALISA_SWA_CLONES
#endif

#if defined(__x86_64__) && defined(__GNUC__)
// float16 -> float32 by F16C, 8 at a time (exact, like half_bits_to_float).
__attribute__((target("avx,f16c"))) void halves_to_floats_f16c(const uint16_t* src, float* dst,
                                                               int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  }
  for (; i < n; ++i) dst[i] = half_bits_to_float(src[i]);
}
#endif

void halves_to_floats(const uint16_t* src, float* dst, int64_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool f16c = __builtin_cpu_supports("f16c");
  if (f16c) {
    halves_to_floats_f16c(src, dst, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = half_bits_to_float(src[i]);
}

// bfloat16 -> float32: the bits shifted into float32's top half (the loop vectorises).
ALISA_SWA_CLONES void bf16s_to_floats(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_bits_to_float(src[i]);
}

// Elements [at, at + n) of a K or V cache as float32: in place when it is float32, else
// converted into `buffer`.
const float* float_row(const void* base, DType dtype, int64_t at, int64_t n, float* buffer) {
  if (dtype == DType::kF32) return static_cast<const float*>(base) + at;
  const uint16_t* src = static_cast<const uint16_t*>(base) + at;
  if (dtype == DType::kBF16) {
    bf16s_to_floats(src, buffer, n);
  } else {
    halves_to_floats(src, buffer, n);
  }
  return buffer;
}

ALISA_SWA_CLONES float dot(const float* a, const float* b, int64_t n) {
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// y += a * x
ALISA_SWA_CLONES void axpy(float a, const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// In place: x = softmax(x) over its elements.
void softmax(std::span<float> x) {
  if (x.empty()) return;
  const float max = *std::max_element(x.begin(), x.end());
  float sum = 0;
  for (float& e : x) {
    e = std::exp(e - max);
    sum += e;
  }
  for (float& e : x) e /= sum;
}

}  // namespace

void swa_select_cpu(const SwaSelectParams& p) {
  parallel_rows(p.batch * p.groups, p.capacity, [&](const auto& rows) {
    for (int64_t row = rows.begin(); row < rows.end(); ++row) {
      const int64_t b = row / p.groups;
      const SwaSequence& s = p.sequences[b];
      ALISA_ASSERT(s.total <= p.max_selected && s.local <= s.total && s.total <= s.n,
                   "SWA sequence ", b, ": ", s.total, " of ", s.n, " tokens, ", s.local, " local");
      int32_t* selected = p.selected + row * p.max_selected;
      if (s.total == s.local) {  // no global part: the most recent tokens
        for (int32_t j = 0; j < s.total; ++j) selected[j] = s.first + s.n - s.total + j;
        continue;
      }
      ALISA_ASSERT(p.score != nullptr, "SWA selection needs a score");
      const SwaBudget budget{.total = s.total, .local = s.local, .global = s.total - s.local};
      const float* score = p.score + row * p.capacity + s.first;
      swa_select_cpu(std::span<const float>(score, static_cast<size_t>(s.n)), budget,
                     std::span<int32_t>(selected, static_cast<size_t>(s.total)));
      for (int32_t j = 0; j < s.total; ++j) selected[j] += s.first;
    }
  });
}

void sparse_attention_cpu(const SparseAttentionParams& p) {
  const int64_t group_size = p.n_heads / p.n_kv_heads;
  parallel_rows(p.batch * p.n_heads, p.max_selected * p.head_dim * 2, [&](const auto& rows) {
    std::vector<float> q(static_cast<size_t>(p.head_dim)), acc(q.size()), row_buffer(q.size());
    std::vector<float> weights;
    for (int64_t row = rows.begin(); row < rows.end(); ++row) {
      const int64_t b = row / p.n_heads, h = row % p.n_heads;
      const int64_t kv_head = h / group_size;
      const int32_t total = p.sequences[b].total;
      const int32_t* selected =
          p.selected + (b * p.groups + (p.groups == 1 ? 0 : h)) * p.max_selected;
      const int64_t q_at = b * p.q_batch_stride + h * p.head_dim;
      for (int64_t d = 0; d < p.head_dim; ++d) q[d] = load(p.q, p.dtype, q_at + d);
      // Selected token j's K (or V) row: in the cache, or recomputed this step (Phase III).
      auto kv_row = [&](const void* cache, const void* recomputed, int32_t j) {
        const int32_t token = selected[j];
        ALISA_ASSERT(token >= 0 && token < p.capacity, "SWA selected token ", token);
        if (token < p.recomputed_below) {
          return std::pair{recomputed, b * p.recomputed_batch_stride +
                                           j * p.recomputed_token_stride + kv_head * p.head_dim};
        }
        return std::pair{cache,
                         b * p.kv_batch_stride + token * p.kv_token_stride + kv_head * p.head_dim};
      };
      weights.assign(static_cast<size_t>(total), 0.0f);
      for (int32_t j = 0; j < total; ++j) {
        const auto [k, at] = kv_row(p.k, p.k_recomputed, j);
        weights[j] =
            dot(q.data(), float_row(k, p.kv_dtype, at, p.head_dim, row_buffer.data()), p.head_dim) *
            p.scale;
      }
      softmax(weights);
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int32_t j = 0; j < total; ++j) {
        const auto [v, at] = kv_row(p.v, p.v_recomputed, j);
        axpy(weights[j], float_row(v, p.kv_dtype, at, p.head_dim, row_buffer.data()), acc.data(),
             p.head_dim);
      }
      const int64_t out_at = b * p.out_batch_stride + h * p.head_dim;
      for (int64_t d = 0; d < p.head_dim; ++d) store(p.out, p.dtype, out_at + d, acc[d]);
      std::copy(weights.begin(), weights.end(), p.probs + row * p.max_selected);
    }
  });
}

void swa_update_score_cpu(const SwaScoreUpdateParams& p) {
  const bool window = p.mode == SwaScore::kWindow;
  // One task per sequence: its groups share the ring counts.
  parallel_rows(p.batch, p.groups * (p.max_selected + p.capacity), [&](const auto& rows) {
    for (int64_t b = rows.begin(); b < rows.end(); ++b) {
      const SwaSequence& s = p.sequences[b];
      int32_t* counts = window ? p.ring_count + b * p.window_rows : nullptr;
      for (int64_t g = 0; g < p.groups; ++g) {
        float* score = p.score + (b * p.groups + g) * p.capacity;
        const int64_t ring = (b * p.groups + g) * p.window_rows;
        if (window && s.drop_row >= 0) {
          const int64_t at = (ring + s.drop_row) * p.row_capacity;
          for (int32_t j = 0; j < counts[s.drop_row]; ++j) {
            score[p.ring_index[at + j]] -= p.ring_weight[at + j];
          }
        }
        if (p.mode == SwaScore::kDecay) {
          for (int32_t i = s.first; i < s.first + s.n; ++i) score[i] *= p.gamma;
        }
        const HeadRange heads = group_heads(g, p.groups, p.n_heads);
        const int32_t* selected = p.selected + (b * p.groups + g) * p.max_selected;
        const int64_t write_at = (ring + std::max(s.write_row, 0)) * p.row_capacity;
        for (int32_t j = 0; j < s.total; ++j) {
          float weight = 0;
          for (int64_t h = heads.begin; h < heads.end; ++h) {
            weight += p.probs[(b * p.n_heads + h) * p.max_selected + j];
          }
          score[selected[j]] += weight;
          if (window && s.write_row >= 0) {
            p.ring_index[write_at + j] = selected[j];
            p.ring_weight[write_at + j] = weight;
          }
        }
      }
      if (window && s.drop_row >= 0) counts[s.drop_row] = 0;
      if (window && s.write_row >= 0) counts[s.write_row] = s.total;
    }
  });
}

void swa_prefill_score_cpu(const SwaPrefillScoreParams& p) {
  const bool window = p.mode == SwaScore::kWindow;
  const int64_t group_size = p.n_heads / p.n_kv_heads;
  parallel_rows(p.batch, p.n_heads * p.n_q * p.head_dim * 4, [&](const auto& rows) {
    std::vector<float> q(static_cast<size_t>(p.head_dim)), weights, row_weights;
    for (int64_t b = rows.begin(); b < rows.end(); ++b) {
      const SwaSequence& s = p.sequences[b];
      ALISA_ASSERT(s.prefill_rows <= s.n && s.first + s.n == p.n_q, "SWA prefill of sequence ", b,
                   ": ", s.prefill_rows, " rows of ", s.n, " tokens");
      if (window) std::fill_n(p.ring_count + b * p.window_rows, p.window_rows, 0);
      for (int64_t g = 0; g < p.groups; ++g) {
        float* score = p.score + (b * p.groups + g) * p.capacity;
        std::fill_n(score, p.capacity, 0.0f);
        const HeadRange heads = group_heads(g, p.groups, p.n_heads);
        for (int32_t r = 0; r < s.prefill_rows; ++r) {
          const int64_t i = p.n_q - s.prefill_rows + r;  // the query row's cache index
          const int64_t n_keys = i - s.first + 1;
          row_weights.assign(static_cast<size_t>(n_keys), 0.0f);
          for (int64_t h = heads.begin; h < heads.end; ++h) {
            const int64_t q_at = b * p.q_batch_stride + i * p.q_token_stride + h * p.head_dim;
            for (int64_t d = 0; d < p.head_dim; ++d) q[d] = load(p.q, p.dtype, q_at + d);
            weights.assign(static_cast<size_t>(n_keys), 0.0f);
            for (int64_t key = 0; key < n_keys; ++key) {
              const int64_t k_at = b * p.kv_batch_stride + (s.first + key) * p.kv_token_stride +
                                   (h / group_size) * p.head_dim;
              float dot = 0;
              for (int64_t d = 0; d < p.head_dim; ++d)
                dot += q[d] * load(p.k, p.kv_dtype, k_at + d);
              weights[key] = dot * p.scale;
            }
            softmax(weights);
            for (int64_t key = 0; key < n_keys; ++key) row_weights[key] += weights[key];
          }
          for (int64_t key = 0; key < n_keys; ++key) score[s.first + key] += row_weights[key];
          if (!window || s.write_row < 0) continue;  // no ring rows asked for
          const int64_t ring_row = (s.write_row + r) % p.window_rows;
          ALISA_ASSERT(n_keys <= p.row_capacity, "SWA prefill row of ", n_keys, " keys > ",
                       p.row_capacity);
          const int64_t at = ((b * p.groups + g) * p.window_rows + ring_row) * p.row_capacity;
          for (int64_t key = 0; key < n_keys; ++key) {
            p.ring_index[at + key] = static_cast<int32_t>(s.first + key);
            p.ring_weight[at + key] = row_weights[key];
          }
          if (g == 0) p.ring_count[b * p.window_rows + ring_row] = static_cast<int32_t>(n_keys);
        }
      }
    }
  });
}

void swa_gather_hidden_cpu(const SwaGatherHiddenParams& p) {
  const size_t element = dtype_size(p.dtype);
  const size_t row_bytes = static_cast<size_t>(p.hidden_dim) * element;
  parallel_rows(p.batch, p.max_rows * p.hidden_dim, [&](const auto& rows) {
    for (int64_t b = rows.begin(); b < rows.end(); ++b) {
      const SwaSequence& s = p.sequences[b];
      const int32_t* selected = p.selected + b * p.max_selected;
      ALISA_ASSERT(p.max_rows >= s.total || selected[p.max_rows] >= p.below, "SWA sequence ", b,
                   " keeps more than ", p.max_rows, " selected hidden states");
      for (int64_t j = 0; j < p.max_rows; ++j) {
        char* out =
            static_cast<char*>(p.rows) + static_cast<size_t>(b * p.max_rows + j) * row_bytes;
        int32_t* position = p.positions + b * p.max_rows + j;
        if (j >= s.total || selected[j] >= p.below) {
          std::memset(out, 0, row_bytes);
          *position = p.position_offset;
          continue;
        }
        const int64_t at = b * p.hidden_batch_stride + selected[j] * p.hidden_token_stride;
        std::memcpy(out, static_cast<const char*>(p.hidden) + static_cast<size_t>(at) * element,
                    row_bytes);
        *position = selected[j] - s.first + p.position_offset;
      }
    }
  });
}

}  // namespace alisa
