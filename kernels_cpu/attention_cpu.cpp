#include "kernels_cpu/attention_cpu.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "kernels_cpu/attention_cpu_half.h"
#include "runtime/base/common.h"
#include "runtime/base/dtype.h"

namespace alisa {
namespace {

// Up to kTile (query, head) rows that share one KV head are attended together, so each K and V
// row loaded from memory serves all of them: consecutive queries of a head, or in decode the
// query heads of a GQA group.
constexpr int kTile = 4;

// The build targets baseline x86-64 (SSE2); an AVX2 clone, picked when the library loads, doubles
// the vector width of the hot loops (about 1.4x on a 512-token prompt).
#if defined(__x86_64__) && defined(__GNUC__)
#define ALISA_ATTENTION_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ALISA_ATTENTION_CLONES
#endif

template <int N>
struct Tile {
  const float* q[N];    // each [head_dim]
  int64_t key_end[N];   // exclusive: row r sees keys [0, key_end[r]) whose mask is set
  float* out[N];        // each [head_dim]
  const float* k;       // [n_kv_tokens, head_dim], rows kv_token_stride apart (one KV head)
  const float* v;       // [n_kv_tokens, head_dim], rows kv_token_stride apart
  const uint8_t* mask;  // [n_kv_tokens]
};

// dot[r] = q[r] . kj
template <int N>
inline void dots(const float* const* q, const float* kj, int64_t head_dim, float* dot) {
  if constexpr (N == 4) {
    const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
    float d0 = 0, d1 = 0, d2 = 0, d3 = 0;
#pragma omp simd reduction(+ : d0, d1, d2, d3)
    for (int64_t d = 0; d < head_dim; ++d) {
      const float kd = kj[d];
      d0 += q0[d] * kd;
      d1 += q1[d] * kd;
      d2 += q2[d] * kd;
      d3 += q3[d] * kd;
    }
    dot[0] = d0, dot[1] = d1, dot[2] = d2, dot[3] = d3;
  } else {
    static_assert(N == 1);
    const float* q0 = q[0];
    float d0 = 0;
#pragma omp simd reduction(+ : d0)
    for (int64_t d = 0; d < head_dim; ++d) d0 += q0[d] * kj[d];
    dot[0] = d0;
  }
}

// acc[r] += w[r] * vj
template <int N>
inline void accumulate(float* acc, const float* w, const float* vj, int64_t head_dim) {
  if constexpr (N == 4) {
    float *a0 = acc, *a1 = acc + head_dim, *a2 = acc + 2 * head_dim, *a3 = acc + 3 * head_dim;
    const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
#pragma omp simd
    for (int64_t d = 0; d < head_dim; ++d) {
      const float vd = vj[d];
      a0[d] += w0 * vd;
      a1[d] += w1 * vd;
      a2[d] += w2 * vd;
      a3[d] += w3 * vd;
    }
  } else {
    static_assert(N == 1);
    const float w0 = w[0];
#pragma omp simd
    for (int64_t d = 0; d < head_dim; ++d) acc[d] += w0 * vj[d];
  }
}

// scores: [N, n_keys] scratch; acc: [N, head_dim] scratch.
template <int N>
ALISA_ATTENTION_CLONES void attend(const Tile<N>& t, int64_t head_dim, int64_t kv_token_stride,
                                   float scale, float* scores, float* acc, int64_t n_keys) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  int64_t end = 0;
  float* s[N];
  float max_score[N];
  for (int r = 0; r < N; ++r) {
    end = std::max(end, t.key_end[r]);
    s[r] = scores + r * n_keys;
    max_score[r] = neg_inf;
  }
  for (int64_t j = 0; j < end; ++j) {
    if (t.mask[j] == 0) continue;  // never read: padding slots may hold garbage
    float dot[N];
    dots<N>(t.q, t.k + j * kv_token_stride, head_dim, dot);
    for (int r = 0; r < N; ++r) {
      const float score = j < t.key_end[r] ? dot[r] * scale : neg_inf;
      s[r][j] = score;
      max_score[r] = std::max(max_score[r], score);
    }
  }

  // Softmax numerators in place; future keys have -inf and become 0.
  double sum[N];
  for (int r = 0; r < N; ++r) {
    sum[r] = 0;
    const bool none_visible = max_score[r] == neg_inf;
    for (int64_t j = 0; j < end; ++j) {
      if (t.mask[j] == 0) continue;
      const float e = none_visible ? 0.0f : std::exp(s[r][j] - max_score[r]);
      s[r][j] = e;
      sum[r] += e;
    }
  }

  std::fill(acc, acc + N * head_dim, 0.0f);
  for (int64_t j = 0; j < end; ++j) {
    if (t.mask[j] == 0) continue;
    float w[N];
    for (int r = 0; r < N; ++r) w[r] = s[r][j];
    accumulate<N>(acc, w, t.v + j * kv_token_stride, head_dim);
  }
  for (int r = 0; r < N; ++r) {
    const float inv = sum[r] > 0 ? static_cast<float>(1.0 / sum[r]) : 0.0f;  // 0: no visible key
    const float* a = acc + r * head_dim;
    float* o = t.out[r];
#pragma omp simd
    for (int64_t d = 0; d < head_dim; ++d) o[d] = a[d] * inv;
  }
}

// The float16-KV tile kernel for `isa`.
attention_detail::HalfTileKernel half_tile_kernel(AttentionIsa isa) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (isa == AttentionIsa::kAvx512) return attention_detail::attend_half_avx512;
  if (isa == AttentionIsa::kAvx2) return attention_detail::attend_half_avx2;
#endif
  return attention_detail::attend_half_generic;
}

}  // namespace

AttentionIsa attention_cpu_best_isa() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const AttentionIsa best = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
      return AttentionIsa::kAvx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c")) {
      return AttentionIsa::kAvx2;
    }
    return AttentionIsa::kBaseline;
  }();
  return best;
#else
  return AttentionIsa::kBaseline;
#endif
}

void attention_cpu(const AttentionParams& p) {
  attention_cpu(p, attention_cpu_best_isa());
}

void attention_cpu(const AttentionParams& p, AttentionIsa isa) {
  // 16-bit (float16 or bfloat16) q and out, k and v; the rest float32.
  const auto is_16bit = [](DType t) { return t == DType::kF16 || t == DType::kBF16; };
  const bool half_q = is_16bit(p.dtype);
  const bool half_kv = is_16bit(p.kv_dtype);
  ALISA_ASSERT((half_q || p.dtype == DType::kF32) && (half_kv || p.kv_dtype == DType::kF32),
               "attention_cpu takes f32, f16 or bf16, got q ", dtype_name(p.dtype), ", kv ",
               dtype_name(p.kv_dtype));
  const auto widen = p.dtype == DType::kBF16 ? bf16_bits_to_float : half_bits_to_float;
  const auto narrow = p.dtype == DType::kBF16 ? float_to_bf16_bits : float_to_half_bits;
  ALISA_ASSERT(isa <= attention_cpu_best_isa(), "attention_cpu: this CPU lacks instruction set ",
               static_cast<int>(isa));
  ALISA_ASSERT(p.batch >= 0 && p.n_q >= 0 && p.head_dim > 0 && p.n_kv_heads > 0 &&
                   p.n_heads % p.n_kv_heads == 0,
               "batch=", p.batch, " n_q=", p.n_q, " n_heads=", p.n_heads,
               " n_kv_heads=", p.n_kv_heads, " head_dim=", p.head_dim);
  ALISA_ASSERT(p.q_start >= 0 && p.q_start + p.n_q <= p.n_kv_tokens, "q_start=", p.q_start,
               " n_q=", p.n_q, " n_kv_tokens=", p.n_kv_tokens);
  if (p.batch == 0 || p.n_q == 0 || p.n_heads == 0) return;
  ALISA_ASSERT(p.q != nullptr && p.k != nullptr && p.v != nullptr && p.key_mask != nullptr &&
               p.out != nullptr);
  // q, out: [batch, n_q, n_heads, head_dim]; k, v: [batch, n_kv_tokens, n_kv_heads, head_dim].
  const int64_t dim = p.head_dim;
  const int64_t group = p.n_heads / p.n_kv_heads;
  // Per (batch, KV head), rows (query i, head in group) in that order: a tile's rows see
  // (nearly) the same keys. Tiles innermost, so one KV head's K and V stay in cache.
  const int64_t n_rows = p.n_q * group;
  const int64_t n_tiles = (n_rows + kTile - 1) / kTile;
  const int64_t n_work = p.batch * p.n_kv_heads * n_tiles;
  static_assert(kTile == attention_detail::kMaxTileRows);
  const attention_detail::HalfTileKernel attend_half = half_tile_kernel(isa);

  auto work = [&](const tbb::blocked_range<int64_t>& range) {
    std::vector<float> scores(static_cast<size_t>(kTile * p.n_kv_tokens));  // [kTile, n_kv]
    std::vector<float> acc(static_cast<size_t>(kTile * dim));               // [kTile, head_dim]
    // 16-bit q and out: a tile's rows in float32, converted in and out ([kTile, head_dim] each).
    std::vector<float> q32(half_q ? static_cast<size_t>(kTile * dim) : 0);
    std::vector<float> out32(q32.size());
    for (int64_t w = range.begin(); w < range.end(); ++w) {
      const int64_t tile = w % n_tiles;
      const int64_t kv_head = (w / n_tiles) % p.n_kv_heads;
      const int64_t b = w / (n_tiles * p.n_kv_heads);
      const int64_t kv_offset = b * p.kv_batch_stride + kv_head * dim;
      const uint8_t* mask = p.key_mask + b * p.mask_batch_stride;
      const int64_t first = tile * kTile;
      const int n = static_cast<int>(std::min<int64_t>(kTile, n_rows - first));
      const float* q_rows[kTile];
      float* out_rows[kTile];
      int64_t out_offset[kTile];
      int64_t key_end[kTile];
      for (int r = 0; r < n; ++r) {
        const int64_t i = (first + r) / group;
        const int64_t h = kv_head * group + (first + r) % group;
        const int64_t q_offset = b * p.q_batch_stride + i * p.q_token_stride + h * dim;
        out_offset[r] = b * p.out_batch_stride + i * p.out_token_stride + h * dim;
        key_end[r] = p.q_start + i + 1;
        if (half_q) {
          const uint16_t* src = static_cast<const uint16_t*>(p.q) + q_offset;
          float* row = q32.data() + r * dim;
          for (int64_t d = 0; d < dim; ++d) row[d] = widen(src[d]);
          q_rows[r] = row;
          out_rows[r] = out32.data() + r * dim;
        } else {
          q_rows[r] = static_cast<const float*>(p.q) + q_offset;
          out_rows[r] = static_cast<float*>(p.out) + out_offset[r];
        }
      }
      // Points either tile type at its rows and at its KV head's k and v (16-bit or float32).
      auto fill = [&](auto& t, const auto* k, const auto* v) {
        for (int r = 0; r < n; ++r) {
          t.q[r] = q_rows[r];
          t.key_end[r] = key_end[r];
          t.out[r] = out_rows[r];
        }
        t.k = k + kv_offset;
        t.v = v + kv_offset;
        t.mask = mask;
      };
      if (half_kv) {
        attention_detail::HalfTile t;
        t.n = n;
        t.bf16 = p.kv_dtype == DType::kBF16;
        fill(t, static_cast<const uint16_t*>(p.k), static_cast<const uint16_t*>(p.v));
        t.head_dim = dim;
        t.kv_token_stride = p.kv_token_stride;
        t.scale = p.scale;
        t.scores = scores.data();
        t.scores_stride = p.n_kv_tokens;
        t.acc = acc.data();
        attend_half(t);
      } else {
        Tile<kTile> t;
        fill(t, static_cast<const float*>(p.k), static_cast<const float*>(p.v));
        if (n == kTile) {
          attend<kTile>(t, dim, p.kv_token_stride, p.scale, scores.data(), acc.data(),
                        p.n_kv_tokens);
        } else {
          for (int r = 0; r < n; ++r) {  // the ragged end of a (batch, KV head): one row at a time
            const Tile<1> one{{t.q[r]}, {t.key_end[r]}, {t.out[r]}, t.k, t.v, t.mask};
            attend<1>(one, dim, p.kv_token_stride, p.scale, scores.data(), acc.data(),
                      p.n_kv_tokens);
          }
        }
      }
      if (half_q) {
        for (int r = 0; r < n; ++r) {
          uint16_t* dst = static_cast<uint16_t*>(p.out) + out_offset[r];
          for (int64_t d = 0; d < dim; ++d) dst[d] = narrow(out_rows[r][d]);
        }
      }
    }
  };
  const int64_t keys_per_row = std::min(p.n_kv_tokens, p.q_start + p.n_q);
  if (p.batch * p.n_heads * p.n_q * keys_per_row * dim < 65536) {
    work(tbb::blocked_range<int64_t>(0, n_work));
  } else {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, n_work), work);
  }
}

}  // namespace alisa
