#include "kernels_cpu/attention_cpu.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "runtime/common.h"

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

}  // namespace

void attention_cpu(const AttentionParams& p) {
  ALISA_ASSERT(p.dtype == DType::kF32 && p.kv_dtype == DType::kF32,
               "attention_cpu takes float32, got q ", dtype_name(p.dtype), ", kv ",
               dtype_name(p.kv_dtype));
  ALISA_ASSERT(p.batch >= 0 && p.n_q >= 0 && p.head_dim > 0 && p.n_kv_heads > 0 &&
                   p.n_heads % p.n_kv_heads == 0,
               "batch=", p.batch, " n_q=", p.n_q, " n_heads=", p.n_heads,
               " n_kv_heads=", p.n_kv_heads, " head_dim=", p.head_dim);
  ALISA_ASSERT(p.q_start >= 0 && p.q_start + p.n_q <= p.n_kv_tokens, "q_start=", p.q_start,
               " n_q=", p.n_q, " n_kv_tokens=", p.n_kv_tokens);
  if (p.batch == 0 || p.n_q == 0 || p.n_heads == 0) return;
  ALISA_ASSERT(p.q != nullptr && p.k != nullptr && p.v != nullptr && p.key_mask != nullptr &&
               p.out != nullptr);
  const float* q = static_cast<const float*>(p.q);  // [batch, n_q, n_heads, head_dim]
  const float* k = static_cast<const float*>(p.k);  // [batch, n_kv_tokens, n_kv_heads, head_dim]
  const float* v = static_cast<const float*>(p.v);  // [batch, n_kv_tokens, n_kv_heads, head_dim]
  float* out = static_cast<float*>(p.out);          // [batch, n_q, n_heads, head_dim]
  const int64_t group = p.n_heads / p.n_kv_heads;
  // Per (batch, KV head), rows (query i, head in group) in that order: a tile's rows see
  // (nearly) the same keys. Tiles innermost, so one KV head's K and V stay in cache.
  const int64_t n_rows = p.n_q * group;
  const int64_t n_tiles = (n_rows + kTile - 1) / kTile;
  const int64_t n_work = p.batch * p.n_kv_heads * n_tiles;

  auto work = [&](const tbb::blocked_range<int64_t>& range) {
    std::vector<float> scores(static_cast<size_t>(kTile * p.n_kv_tokens));  // [kTile, n_kv]
    std::vector<float> acc(static_cast<size_t>(kTile * p.head_dim));        // [kTile, head_dim]
    for (int64_t w = range.begin(); w < range.end(); ++w) {
      const int64_t tile = w % n_tiles;
      const int64_t kv_head = (w / n_tiles) % p.n_kv_heads;
      const int64_t b = w / (n_tiles * p.n_kv_heads);
      Tile<kTile> t;
      t.k = k + b * p.kv_batch_stride + kv_head * p.head_dim;
      t.v = v + b * p.kv_batch_stride + kv_head * p.head_dim;
      t.mask = p.key_mask + b * p.mask_batch_stride;
      const int64_t first = tile * kTile;
      const int n = static_cast<int>(std::min<int64_t>(kTile, n_rows - first));
      for (int r = 0; r < n; ++r) {
        const int64_t i = (first + r) / group;
        const int64_t h = kv_head * group + (first + r) % group;
        t.q[r] = q + b * p.q_batch_stride + i * p.q_token_stride + h * p.head_dim;
        t.out[r] = out + b * p.out_batch_stride + i * p.out_token_stride + h * p.head_dim;
        t.key_end[r] = p.q_start + i + 1;
      }
      if (n == kTile) {
        attend<kTile>(t, p.head_dim, p.kv_token_stride, p.scale, scores.data(), acc.data(),
                      p.n_kv_tokens);
        continue;
      }
      for (int r = 0; r < n; ++r) {  // the ragged end of a (batch, KV head): one row at a time
        const Tile<1> one{{t.q[r]}, {t.key_end[r]}, {t.out[r]}, t.k, t.v, t.mask};
        attend<1>(one, p.head_dim, p.kv_token_stride, p.scale, scores.data(), acc.data(),
                  p.n_kv_tokens);
      }
    }
  };
  const int64_t keys_per_row = std::min(p.n_kv_tokens, p.q_start + p.n_q);
  if (p.batch * p.n_heads * p.n_q * keys_per_row * p.head_dim < 65536) {
    work(tbb::blocked_range<int64_t>(0, n_work));
  } else {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, n_work), work);
  }
}

}  // namespace alisa
