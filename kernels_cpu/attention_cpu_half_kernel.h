// The 16-bit-KV attention tile (float16 or bfloat16 rows), written once against a vector-ops
// struct `Simd` and compiled once per instruction set and KV format. Each
// attention_cpu_half_<isa>.cpp defines ALISA_SIMD_TARGET (the target attribute every function here
// carries, so that Simd's intrinsics inline into it), Simd (a vector of kWidth floats: loads,
// float16 and bfloat16 loads converted in registers, fma, sum, exp) and ALISA_ATTEND_HALF_ENTRY
// (attend_half_<isa>, the entry point this file defines for it), and includes this file once.
// Include it from those files only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "kernels_cpu/attention_cpu_half.h"

#if !defined(ALISA_SIMD_TARGET) || !defined(ALISA_ATTEND_HALF_ENTRY)
#error "define ALISA_SIMD_TARGET, ALISA_ATTEND_HALF_ENTRY and Simd before including this"
#endif

namespace alisa::attention_detail {
namespace {

using V = Simd::V;
constexpr int kW = Simd::kWidth;

// Keys per V pass. When a row is wider than the registers hold, the pass runs once per register
// block of the row; the block's V rows (64 x 256 bytes at head_dim 128) stay in L1 between them.
constexpr int64_t kKeyBlock = 64;
// Cache rows sit kv_token_stride apart (KiBs in the [batch, tokens, heads, head_dim] cache:
// another page each), a stride the hardware prefetchers do not follow, so rows are prefetched
// this many keys ahead.
constexpr int64_t kPrefetchAhead = 16;

ALISA_SIMD_TARGET inline void prefetch_row(const uint16_t* row, int64_t n) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(row) & ~uintptr_t{63};
  const uintptr_t last = (reinterpret_cast<uintptr_t>(row + n) - 1) & ~uintptr_t{63};
  for (uintptr_t line = first; line <= last; line += 64) {
    __builtin_prefetch(reinterpret_cast<const void*>(line));
  }
}

// kW (or n) 16-bit values as floats: bfloat16 when kBf16, float16 otherwise.
template <bool kBf16>
ALISA_SIMD_TARGET inline V load16(const uint16_t* p) {
  if constexpr (kBf16) {
    return Simd::load_bf16(p);
  } else {
    return Simd::load_half(p);
  }
}
template <bool kBf16>
ALISA_SIMD_TARGET inline V load16_part(const uint16_t* p, int n) {
  if constexpr (kBf16) {
    return Simd::load_bf16_part(p, n);
  } else {
    return Simd::load_half_part(p, n);
  }
}

// scores[r][j] = scale * q[r] . k[j] for the keys row r sees, -inf for the others (masked or
// future); max_score[r] = their maximum.
template <int N, bool kBf16>
ALISA_SIMD_TARGET void scores(const HalfTile& t, int64_t end, float* max_score) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const int64_t dim = t.head_dim;
  const int64_t full = dim - dim % kW;
  const int tail = static_cast<int>(dim - full);
  for (int r = 0; r < N; ++r) max_score[r] = neg_inf;
  for (int64_t j = 0; j < end; ++j) {
    if (j + kPrefetchAhead < end) prefetch_row(t.k + (j + kPrefetchAhead) * t.kv_token_stride, dim);
    if (t.mask[j] == 0) {  // never read: padding slots may hold garbage
      for (int r = 0; r < N; ++r) t.scores[r * t.scores_stride + j] = neg_inf;
      continue;
    }
    const uint16_t* kj = t.k + j * t.kv_token_stride;
    V acc[N];
    for (int r = 0; r < N; ++r) acc[r] = Simd::zero();
    for (int64_t d = 0; d < full; d += kW) {
      const V x = load16<kBf16>(kj + d);
      for (int r = 0; r < N; ++r) acc[r] = Simd::fma(Simd::load(t.q[r] + d), x, acc[r]);
    }
    if (tail != 0) {
      const V x = load16_part<kBf16>(kj + full, tail);
      for (int r = 0; r < N; ++r) {
        acc[r] = Simd::fma(Simd::load_part(t.q[r] + full, tail), x, acc[r]);
      }
    }
    for (int r = 0; r < N; ++r) {
      const float score = j < t.key_end[r] ? Simd::sum(acc[r]) * t.scale : neg_inf;
      t.scores[r * t.scores_stride + j] = score;
      max_score[r] = std::max(max_score[r], score);
    }
  }
}

// s[j] = exp(s[j] - max_score) for j < end (-inf scores become 0); returns their sum.
ALISA_SIMD_TARGET inline double softmax_numerators(float* s, int64_t end, float max_score) {
  if (max_score == -std::numeric_limits<float>::infinity()) {  // no visible key
    std::fill(s, s + end, 0.0f);
    return 0;
  }
  const V m = Simd::set1(max_score);
  double sum = 0;
  for (int64_t j = 0; j < end;) {
    // Float partial sums over 256 keys at most, then double: long caches lose no precision.
    const int64_t block_end = std::min(end, j + 256);
    V block_sum = Simd::zero();
    for (; j + kW <= block_end; j += kW) {
      const V e = Simd::exp(Simd::sub(Simd::load(s + j), m));
      Simd::store(s + j, e);
      block_sum = Simd::add(block_sum, e);
    }
    if (j < block_end) {
      const int n = static_cast<int>(block_end - j);
      Simd::store_part(s + j, Simd::exp(Simd::sub(Simd::load_part(s + j, n), m)), n);
      block_sum = Simd::add(block_sum, Simd::load_part(s + j, n));  // lanes past n read as 0
      j = block_end;
    }
    sum += Simd::sum(block_sum);
  }
  return sum;
}

// acc[r][d0, d0 + width) += sum over keys j in [j0, j1) of s[r][j] * v[j], where the block is C
// vectors wide (the last `last` lanes wide) and is held in registers across the keys.
template <int N, int C, bool kBf16>
ALISA_SIMD_TARGET void accumulate_block(const HalfTile& t, int64_t j0, int64_t j1, int64_t end,
                                        int64_t d0, int last, bool prefetch) {
  V a[N][C];
#pragma GCC unroll 16
  for (int r = 0; r < N; ++r) {
    const float* acc = t.acc + r * t.head_dim + d0;
#pragma GCC unroll 16
    for (int c = 0; c + 1 < C; ++c) a[r][c] = Simd::load(acc + c * kW);
    a[r][C - 1] = Simd::load_part(acc + (C - 1) * kW, last);
  }
  for (int64_t j = j0; j < j1; ++j) {
    if (prefetch && j + kPrefetchAhead < end) {
      prefetch_row(t.v + (j + kPrefetchAhead) * t.kv_token_stride, t.head_dim);
    }
    if (t.mask[j] == 0) continue;
    const uint16_t* vj = t.v + j * t.kv_token_stride + d0;
    V w[N];
#pragma GCC unroll 16
    for (int r = 0; r < N; ++r) w[r] = Simd::set1(t.scores[r * t.scores_stride + j]);
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const V x = c + 1 < C ? load16<kBf16>(vj + c * kW) : load16_part<kBf16>(vj + c * kW, last);
#pragma GCC unroll 16
      for (int r = 0; r < N; ++r) a[r][c] = Simd::fma(w[r], x, a[r][c]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < N; ++r) {
    float* acc = t.acc + r * t.head_dim + d0;
#pragma GCC unroll 16
    for (int c = 0; c + 1 < C; ++c) Simd::store(acc + c * kW, a[r][c]);
    Simd::store_part(acc + (C - 1) * kW, a[r][C - 1], last);
  }
}

// accumulate_block with C = chunks (1..C), a compile-time width for each.
template <int N, int C, bool kBf16>
ALISA_SIMD_TARGET void accumulate_chunks(int chunks, const HalfTile& t, int64_t j0, int64_t j1,
                                         int64_t end, int64_t d0, int last, bool prefetch) {
  if constexpr (C > 1) {
    if (chunks < C) {
      accumulate_chunks<N, C - 1, kBf16>(chunks, t, j0, j1, end, d0, last, prefetch);
      return;
    }
  }
  accumulate_block<N, C, kBf16>(t, j0, j1, end, d0, last, prefetch);
}

template <int N, bool kBf16>
ALISA_SIMD_TARGET void attend(const HalfTile& t) {
  int64_t end = 0;
  for (int r = 0; r < N; ++r) end = std::max(end, t.key_end[r]);
  float max_score[N];
  scores<N, kBf16>(t, end, max_score);
  // The first V rows load while the softmax runs.
  for (int64_t j = 0; j < std::min(end, kPrefetchAhead); ++j) {
    prefetch_row(t.v + j * t.kv_token_stride, t.head_dim);
  }
  float inv[N];
  for (int r = 0; r < N; ++r) {
    const double sum = softmax_numerators(t.scores + r * t.scores_stride, end, max_score[r]);
    inv[r] = sum > 0 ? static_cast<float>(1.0 / sum) : 0.0f;  // 0: no visible key
  }

  const int64_t dim = t.head_dim;
  std::fill(t.acc, t.acc + N * dim, 0.0f);
  constexpr int kChunks = Simd::kAccumulators / N;  // vectors of a row held in registers
  for (int64_t j0 = 0; j0 < end; j0 += kKeyBlock) {
    const int64_t j1 = std::min(end, j0 + kKeyBlock);
    for (int64_t d0 = 0; d0 < dim; d0 += kChunks * kW) {
      const int64_t width = std::min<int64_t>(dim - d0, kChunks * kW);
      const int chunks = static_cast<int>((width + kW - 1) / kW);
      const int last = static_cast<int>(width - (chunks - 1) * kW);
      accumulate_chunks<N, kChunks, kBf16>(chunks, t, j0, j1, end, d0, last, d0 == 0);
    }
  }
  for (int r = 0; r < N; ++r) {
    const float* a = t.acc + r * dim;
    float* o = t.out[r];
    for (int64_t d = 0; d < dim; ++d) o[d] = a[d] * inv[r];
  }
}

template <bool kBf16>
ALISA_SIMD_TARGET void attend_rows(const HalfTile& t) {
  switch (t.n) {
    case 1:
      return attend<1, kBf16>(t);
    case 2:
      return attend<2, kBf16>(t);
    case 3:
      return attend<3, kBf16>(t);
    default:
      static_assert(kMaxTileRows == 4);
      return attend<4, kBf16>(t);
  }
}

ALISA_SIMD_TARGET void attend_half(const HalfTile& t) {
  if (t.bf16) {
    attend_rows<true>(t);
  } else {
    attend_rows<false>(t);
  }
}

}  // namespace

// The instruction set's entry point (attention_cpu_half.h).
void ALISA_ATTEND_HALF_ENTRY(const HalfTile& t) {
  attend_half(t);
}

}  // namespace alisa::attention_detail
