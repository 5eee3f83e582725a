#include "kernels_gpu/sparse_attention.cuh"

#include "kernels_gpu/dispatch.cuh"
#include "kernels_gpu/swa_common.cuh"

namespace alisa::gpu {
namespace {

using detail::check_grid;
using detail::load4;
using detail::vec4_ok;

// Grid (head blocks, batch), kAttnThreads threads. A block serves up to kRows query heads that
// share a KV head and a selection row (groups == 1: the heads of one KV head, in chunks of
// kRows; groups == n_heads: one head). A lane owns kSlots pieces of kE elements of a head_dim row
// (element (s * 32 + lane) * kE + e), so a warp reads a whole K or V row coalesced, 4 elements
// per lane and load where aligned. Warp w takes keys [w * U, w * U + U), then + kAttnWarps * U,
// ... (U = kAttnUnroll rows in flight per warp), both passes the same keys:
//   pass 1: logits (q pre-scaled, float32) of every row, written to probs (the block's own
//           output rows, no other scratch), and the running maxima;
//   pass 2: e = exp(logit - max) written back to probs, the sum of e, and e * V accumulated;
// then the warps' partial outputs and sums meet in shared memory (fixed order), out = o / sum
// and probs = e / sum. Each K and V row is read once per block. Phase III: a selected token j
// below recomputed_below is read from row j of k_recomputed / v_recomputed instead of the cache
// (a warp-uniform branch per kAttnUnroll rows; the cache-only path is the old one).
constexpr int kAttnThreads = 128;
constexpr int kAttnWarps = kAttnThreads / kWarpSize;
constexpr int kAttnMaxRows = 8;
constexpr int kAttnUnroll = 4;
constexpr int kSwaMaxHeadDim = 256;

template <typename KV, int kSlots, int kE>
__device__ __forceinline__ void load_lane_row(const KV* row, int d, int lane,
                                              float (&x)[kSlots][kE]) {
#pragma unroll
  for (int s = 0; s < kSlots; ++s) {
    const int c = (s * kWarpSize + lane) * kE;
    if (c < d) {
      if constexpr (kE == 4) {
        load4(row + c, x[s]);
      } else {
        x[s][0] = to_float(row[c]);
      }
    } else {
#pragma unroll
      for (int e = 0; e < kE; ++e) x[s][e] = 0.0f;
    }
  }
}

template <int kSlots, int kE>
__device__ __forceinline__ void zero_lane_row(float (&x)[kSlots][kE]) {
#pragma unroll
  for (int s = 0; s < kSlots; ++s) {
#pragma unroll
    for (int e = 0; e < kE; ++e) x[s][e] = 0.0f;
  }
}

// Blocks per SM the register budget must allow (128 threads, registers in units of 8): no spills
// at these, and the occupancy the kernel had before the recomputed-row path, but for 1 row with
// vector loads (6 blocks instead of 7; 7 would spill).
constexpr int attn_min_blocks(int rows, bool vec) {
  return rows == 1 ? (vec ? 6 : 5) : rows == 2 ? 5 : rows == 4 ? 4 : 3;
}

template <typename T, typename KV, int kRows, bool kVec>
__global__ void __launch_bounds__(kAttnThreads, attn_min_blocks(kRows, kVec))
    sparse_attention_kernel(SparseAttentionParams p, int head_chunks) {
  constexpr int kE = kVec ? 4 : 1;
  constexpr int kSlots = kSwaMaxHeadDim / (kWarpSize * kE);
  __shared__ float acc_s[kAttnWarps][kRows][kSwaMaxHeadDim];
  __shared__ float max_s[kAttnWarps][kRows];
  __shared__ float sum_s[kAttnWarps][kRows];

  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid / kWarpSize;
  const int lane = tid % kWarpSize;
  const int64_t b = blockIdx.y;
  const int d = static_cast<int>(p.head_dim);
  const int group = static_cast<int>(p.n_heads / p.n_kv_heads);
  int h0 = static_cast<int>(blockIdx.x);
  int n_rows = 1;
  if (p.groups == 1) {
    const int kvh = static_cast<int>(blockIdx.x) / head_chunks;
    const int chunk = static_cast<int>(blockIdx.x) % head_chunks;
    h0 = kvh * group + chunk * kRows;
    n_rows = min(kRows, group - chunk * kRows);
  }
  const int kvh = h0 / group;
  const int64_t sel_row = p.groups == 1 ? 0 : h0;
  const SwaSequence seq = p.sequences[b];
  const int total =
      static_cast<int>(max(int64_t{0}, min(static_cast<int64_t>(seq.total), p.max_selected)));
  const int64_t ms = p.max_selected;
  const int32_t* sel = p.selected + (b * p.groups + sel_row) * ms;
  float* probs = p.probs + (b * p.n_heads + h0) * ms;  // row r at r * ms
  T* out = static_cast<T*>(p.out) + b * p.out_batch_stride + static_cast<int64_t>(h0) * d;

  if (total == 0) {
    for (int i = tid; i < n_rows * d; i += kAttnThreads) out[i] = from_float<T>(0.0f);
    return;
  }

  float q[kRows][kSlots][kE];
  {
    const T* qb = static_cast<const T*>(p.q) + b * p.q_batch_stride + static_cast<int64_t>(h0) * d;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int s = 0; s < kSlots; ++s) {
#pragma unroll
        for (int e = 0; e < kE; ++e) {
          const int c = (s * kWarpSize + lane) * kE + e;
          q[r][s][e] = r < n_rows && c < d ? to_float(qb[r * d + c]) * p.scale : 0.0f;
        }
      }
    }
  }
  const int64_t head_offset = static_cast<int64_t>(kvh) * d;
  const KV* k_base = static_cast<const KV*>(p.k) + b * p.kv_batch_stride + head_offset;
  const KV* v_base = static_cast<const KV*>(p.v) + b * p.kv_batch_stride + head_offset;
  // The warp's rows j0, ..., j0 + kAttnUnroll - 1 of K or V (zeros past total). Phase III: a
  // selected token j below `below` is read from recomputed row j instead; the rows are the same
  // for every lane, so the branch is warp-uniform and the cache-only path stays as lean as before.
  const int below = static_cast<int>(min(p.recomputed_below, int64_t{INT_MAX}));
  auto load_rows = [&](const KV* cache, const void* recomputed, int j0,
                       float(&x)[kAttnUnroll][kSlots][kE]) {
    int idx[kAttnUnroll];
    bool any_recomputed = false;
#pragma unroll
    for (int u = 0; u < kAttnUnroll; ++u) {
      const int j = j0 + u;
      idx[u] = j < total ? sel[j] : -1;
      any_recomputed = any_recomputed || (idx[u] >= 0 && idx[u] < below);
    }
    if (__builtin_expect(any_recomputed, 0)) {
      const KV* rec_base =
          static_cast<const KV*>(recomputed) + b * p.recomputed_batch_stride + head_offset;
#pragma unroll
      for (int u = 0; u < kAttnUnroll; ++u) {
        const int j = j0 + u;
        if (idx[u] >= 0) {
          const KV* row = idx[u] < below ? rec_base + j * p.recomputed_token_stride
                                         : cache + idx[u] * p.kv_token_stride;
          load_lane_row<KV, kSlots, kE>(row, d, lane, x[u]);
        } else {
          zero_lane_row<kSlots, kE>(x[u]);
        }
      }
    } else {
#pragma unroll
      for (int u = 0; u < kAttnUnroll; ++u) {
        if (idx[u] >= 0) {
          load_lane_row<KV, kSlots, kE>(cache + idx[u] * p.kv_token_stride, d, lane, x[u]);
        } else {
          zero_lane_row<kSlots, kE>(x[u]);
        }
      }
    }
  };
  constexpr int kStep = kAttnWarps * kAttnUnroll;

  // Pass 1: logits and maxima.
  float row_max[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) row_max[r] = -INFINITY;
  for (int j0 = warp * kAttnUnroll; j0 < total; j0 += kStep) {
    float x[kAttnUnroll][kSlots][kE];
    load_rows(k_base, p.k_recomputed, j0, x);
#pragma unroll
    for (int u = 0; u < kAttnUnroll; ++u) {
      const int j = j0 + u;
      if (j >= total) break;  // uniform across the warp
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        float dot = 0.0f;
#pragma unroll
        for (int s = 0; s < kSlots; ++s) {
#pragma unroll
          for (int e = 0; e < kE; ++e) dot = fmaf(q[r][s][e], x[u][s][e], dot);
        }
        dot = warp_sum(dot);
        row_max[r] = fmaxf(row_max[r], dot);
        if (lane == 0 && r < n_rows) probs[r * ms + j] = dot;
      }
    }
  }
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) max_s[warp][r] = row_max[r];
  }
  __syncthreads();
  // Lane r handles the weights of row r.
  float my_max = 0.0f;
  if (lane < n_rows) {
    my_max = -INFINITY;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) my_max = fmaxf(my_max, max_s[w][lane]);
  }

  // Pass 2: weights, their sum and the weighted V rows.
  float acc[kRows][kSlots][kE];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int s = 0; s < kSlots; ++s) {
#pragma unroll
      for (int e = 0; e < kE; ++e) acc[r][s][e] = 0.0f;
    }
  }
  float my_sum = 0.0f;
  for (int j0 = warp * kAttnUnroll; j0 < total; j0 += kStep) {
    float x[kAttnUnroll][kSlots][kE];
    float logit[kAttnUnroll];
#pragma unroll
    for (int u = 0; u < kAttnUnroll; ++u) {
      const int j = j0 + u;
      logit[u] = j < total && lane < n_rows ? probs[lane * ms + j] : 0.0f;
    }
    load_rows(v_base, p.v_recomputed, j0, x);
#pragma unroll
    for (int u = 0; u < kAttnUnroll; ++u) {
      const int j = j0 + u;
      if (j >= total) break;  // uniform across the warp
      float weight = 0.0f;
      if (lane < n_rows) {
        weight = expf(logit[u] - my_max);
        probs[lane * ms + j] = weight;
        my_sum += weight;
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float wr = __shfl_sync(kFullMask, weight, r);
#pragma unroll
        for (int s = 0; s < kSlots; ++s) {
#pragma unroll
          for (int e = 0; e < kE; ++e) acc[r][s][e] = fmaf(wr, x[u][s][e], acc[r][s][e]);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int s = 0; s < kSlots; ++s) {
#pragma unroll
      for (int e = 0; e < kE; ++e) {
        const int c = (s * kWarpSize + lane) * kE + e;
        if (c < d) acc_s[warp][r][c] = acc[r][s][e];
      }
    }
  }
  if (lane < kRows) sum_s[warp][lane] = my_sum;
  __syncthreads();

  for (int i = tid; i < n_rows * d; i += kAttnThreads) {
    const int r = i / d;
    const int c = i - r * d;
    float o = 0.0f, l = 0.0f;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) {
      o += acc_s[w][r][c];
      l += sum_s[w][r];
    }
    out[i] = from_float<T>(o / l);
  }
  for (int i = tid; i < n_rows * total; i += kAttnThreads) {
    const int r = i / total;
    const int j = i - r * total;
    float l = 0.0f;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) l += sum_s[w][r];
    probs[r * ms + j] /= l;
  }
}

}  // namespace

void sparse_attention(const SparseAttentionParams& p, cudaStream_t stream) {
  assert_float_dtype(p.dtype, "sparse_attention q");
  assert_float_dtype(p.kv_dtype, "sparse_attention kv");
  ALISA_ASSERT(p.q != nullptr && p.k != nullptr && p.v != nullptr && p.out != nullptr &&
                   p.selected != nullptr && p.sequences != nullptr && p.probs != nullptr,
               "sparse_attention: null pointer");
  ALISA_ASSERT(p.n_heads > 0 && p.n_kv_heads > 0 && p.n_heads % p.n_kv_heads == 0,
               "sparse_attention: n_heads ", p.n_heads, ", n_kv_heads ", p.n_kv_heads);
  ALISA_ASSERT(p.head_dim > 0 && p.head_dim <= kSwaMaxHeadDim, "sparse_attention: head_dim ",
               p.head_dim, " (at most ", kSwaMaxHeadDim, ")");
  ALISA_ASSERT(p.groups == 1 || p.groups == p.n_heads, "sparse_attention: groups ", p.groups,
               " for ", p.n_heads, " heads");
  ALISA_ASSERT(p.max_selected > 0 && p.max_selected < (int64_t{1} << 31),
               "sparse_attention: max_selected ", p.max_selected);
  ALISA_ASSERT(p.kv_token_stride >= p.n_kv_heads * p.head_dim && p.kv_batch_stride >= 0 &&
                   p.q_batch_stride >= 0 && p.out_batch_stride >= 0,
               "sparse_attention: strides");
  const bool recomputed = p.recomputed_below > 0;
  if (recomputed) {
    ALISA_ASSERT(p.k_recomputed != nullptr && p.v_recomputed != nullptr,
                 "sparse_attention: recomputed_below ", p.recomputed_below,
                 " without recomputed K/V");
    ALISA_ASSERT(
        p.recomputed_token_stride >= p.n_kv_heads * p.head_dim && p.recomputed_batch_stride >= 0,
        "sparse_attention: recomputed strides");
  }
  const int64_t group = p.n_heads / p.n_kv_heads;
  const bool shared = p.groups == 1;
  const int rows = shared ? pow2_rows(group, kAttnMaxRows) : 1;
  const int64_t head_chunks = shared ? ceil_div(group, rows) : 1;
  const int64_t blocks = shared ? p.n_kv_heads * head_chunks : p.n_heads;
  ALISA_ASSERT(blocks <= (int64_t{1} << 31) - 1, "sparse_attention: too many heads");
  check_grid(p.batch, 1, "sparse_attention");
  const bool vec =
      p.head_dim % 4 == 0 && vec4_ok(p.k, p.kv_dtype, {p.kv_batch_stride, p.kv_token_stride}) &&
      vec4_ok(p.v, p.kv_dtype, {p.kv_batch_stride, p.kv_token_stride}) &&
      (!recomputed || (vec4_ok(p.k_recomputed, p.kv_dtype,
                               {p.recomputed_batch_stride, p.recomputed_token_stride}) &&
                       vec4_ok(p.v_recomputed, p.kv_dtype,
                               {p.recomputed_batch_stride, p.recomputed_token_stride})));
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(p.batch));
  const int chunks = static_cast<int>(head_chunks);
  dispatch_float_dtype(p.dtype, "sparse_attention q", [&](auto t) {
    dispatch_float_dtype(p.kv_dtype, "sparse_attention kv", [&](auto kv) {
      dispatch_value<1, 2, 4, kAttnMaxRows>(rows, "sparse_attention rows", [&](auto kRows) {
        dispatch_bool(vec, [&](auto kVec) {
          sparse_attention_kernel<typename decltype(t)::type, typename decltype(kv)::type,
                                  decltype(kRows)::value, decltype(kVec)::value>
              <<<grid, kAttnThreads, 0, stream>>>(p, chunks);
        });
      });
    });
  });
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu
