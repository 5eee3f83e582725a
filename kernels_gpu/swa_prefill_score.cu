#include "kernels_gpu/swa_prefill_score.cuh"

#include <cooperative_groups.h>

#include "kernels_gpu/dispatch.cuh"
#include "kernels_gpu/online_softmax.cuh"
#include "kernels_gpu/swa_common.cuh"

namespace alisa::gpu {
namespace {

using detail::check_grid;
using detail::ExpE;
using detail::load4;
using detail::OnlineSoftmax;
using detail::vec4_ok;

namespace cg = cooperative_groups;

// Grid (kCluster, groups, batch), clusters of kCluster blocks along x: one cluster per (sequence,
// group). The real keys [first, n_q) are cut into stripes of 32; block `rank` owns the stripes
// s = rank, rank + kCluster, ..., and its warp w the block's stripes w, w + kWarps, ... The query
// rows [max(n_q - prefill_rows, first), n_q) go in chunks of R rows (R * heads <= kMaxPairs); per
// chunk and (head, row) pair p = head * R + row:
//   phase 1: warp per pair, a key per lane: each block's partial max and sum of exp over its own
//            keys (online), into shared memory;
//   merge:   after a cluster barrier every block reads all blocks' partials through distributed
//            shared memory and keeps lse[p] (a second barrier before the partials are reused);
//   phase 2: thread per key of the block: for heads in order, rows in order, w = exp(s - lse),
//            summed into S[key] (read back between chunks) and, for the rows kept in the ring
//            (kWindow), into the ring entry of the key (head 0 writes, later heads add).
// q and K rows are read from global memory (q broadcast over a warp, K rows from L1/L2).
constexpr int kPrefillThreads = 256;
constexpr int kPrefillWarps = kPrefillThreads / kWarpSize;
constexpr int kCluster = 8;
constexpr int kMaxPairs = 2048;
constexpr int kStripe = kWarpSize;

template <typename Q, typename K, bool kVec>
__device__ __forceinline__ float dot_row(const Q* q, const K* k, int d) {
  float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
  if constexpr (kVec) {
#pragma unroll 4
    for (int c = 0; c < d; c += 4) {
      float x[4], y[4];
      load4(q + c, x);
      load4(k + c, y);
      a0 = fmaf(x[0], y[0], a0);
      a1 = fmaf(x[1], y[1], a1);
      a2 = fmaf(x[2], y[2], a2);
      a3 = fmaf(x[3], y[3], a3);
    }
  } else {
#pragma unroll 4
    for (int c = 0; c < d; ++c) a0 = fmaf(to_float(q[c]), to_float(k[c]), a0);
  }
  return (a0 + a1) + (a2 + a3);
}

template <typename Q, typename K, bool kVec>
__global__ void __launch_bounds__(kPrefillThreads)
    swa_prefill_score_kernel(SwaPrefillScoreParams p) {
  __shared__ float part_m[kMaxPairs];
  __shared__ float part_l[kMaxPairs];
  __shared__ float lse_s[kMaxPairs];
  cg::cluster_group cluster = cg::this_cluster();
  const int rank = static_cast<int>(cluster.block_rank());
  const int n_ranks = static_cast<int>(cluster.num_blocks());
  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid / kWarpSize;
  const int lane = tid % kWarpSize;
  const int64_t g = blockIdx.y;
  const int64_t b = blockIdx.z;
  const int64_t row = b * p.groups + g;
  const SwaSequence seq = p.sequences[b];
  const int n_q = static_cast<int>(p.n_q);
  const int d = static_cast<int>(p.head_dim);
  const int first = max(seq.first, 0);
  const int m = min(max(seq.prefill_rows, 0), n_q);
  const int row_begin = n_q - m;              // the first of the last m query rows
  const int i_start = max(row_begin, first);  // earlier rows see no real key
  const bool any = i_start < n_q;
  const int h_begin = p.groups == 1 ? 0 : static_cast<int>(g);
  const int n_h = p.groups == 1 ? static_cast<int>(p.n_heads) : 1;
  const int group = static_cast<int>(p.n_heads / p.n_kv_heads);
  const int rows_per_chunk = max(1, kMaxPairs / n_h);
  float* score = p.score + row * p.capacity;
  const bool window = p.mode == SwaScore::kWindow;
  const int w_rows = static_cast<int>(p.window_rows);
  const int write_row = seq.write_row;
  const bool ring = window && w_rows > 0 && write_row >= 0;

  // S outside the real keys (all of it when no row counts); phase 2 writes the rest.
  for (int64_t j = static_cast<int64_t>(rank) * kPrefillThreads + tid; j < p.capacity;
       j += static_cast<int64_t>(n_ranks) * kPrefillThreads) {
    if (!any || j < first || j >= n_q) score[j] = 0.0f;
  }
  // The ring counts, final values only (ring row s holds the last of the rows r with
  // (write_row + r) % window_rows == s, if any).
  if (window && w_rows > 0 && g == 0 && rank == 0) {
    for (int s = tid; s < w_rows; s += kPrefillThreads) {
      int count = 0;
      if (ring) {
        const int r0 = ((s - write_row) % w_rows + w_rows) % w_rows;
        if (r0 < m) {
          const int r_last = r0 + (m - 1 - r0) / w_rows * w_rows;
          count = max(0, row_begin + r_last - first + 1);
        }
      }
      p.ring_count[b * w_rows + s] = count;
    }
  }

  const Q* q_base = static_cast<const Q*>(p.q) + b * p.q_batch_stride;
  const K* k_base = static_cast<const K*>(p.k) + b * p.kv_batch_stride;
  auto q_row = [&](int i, int h) {
    return q_base + static_cast<int64_t>(i) * p.q_token_stride + static_cast<int64_t>(h) * d;
  };
  auto k_row = [&](int j, int h) {
    return k_base + static_cast<int64_t>(j) * p.kv_token_stride +
           static_cast<int64_t>(h / group) * d;
  };
  const int n_stripes = any ? (n_q - first + kStripe - 1) / kStripe : 0;

  for (int c0 = i_start; c0 < n_q; c0 += rows_per_chunk) {  // the same chunks in every block
    const int n_rows = min(rows_per_chunk, n_q - c0);
    const int n_pairs = n_rows * n_h;

    // Phase 1: this block's partial max and sum per pair.
    for (int pair = warp; pair < n_pairs; pair += kPrefillWarps) {
      const int hl = pair / n_rows;
      const int i = c0 + pair % n_rows;
      const int h = h_begin + hl;
      const Q* qr = q_row(i, h);
      float mx = -INFINITY, l = 0.0f;  // online softmax of this lane's keys, one at a time
      for (int s = rank;; s += n_ranks) {
        const int key0 = first + s * kStripe;
        if (key0 > i) break;
        const int j = key0 + lane;
        if (j <= i) {
          const float x = dot_row<Q, K, kVec>(qr, k_row(j, h), d) * p.scale;
          if (x > mx) {
            l = l * expf(mx - x) + 1.0f;
            mx = x;
          } else {
            l += expf(x - mx);
          }
        }
      }
      const float block_max = warp_max(mx);
      const float block_sum = warp_sum(OnlineSoftmax<ExpE>{mx, l}.sum_at(block_max));
      if (lane == 0) {
        part_m[pair] = block_max;
        part_l[pair] = block_sum;
      }
    }
    cluster.sync();  // every block's partials are written
    for (int pair = tid; pair < n_pairs; pair += kPrefillThreads) {
      float mx = -INFINITY;
      for (int r = 0; r < n_ranks; ++r) mx = fmaxf(mx, cluster.map_shared_rank(part_m, r)[pair]);
      float l = 0.0f;
      for (int r = 0; r < n_ranks; ++r) {
        const float mr = cluster.map_shared_rank(part_m, r)[pair];
        if (mr != -INFINITY) l += cluster.map_shared_rank(part_l, r)[pair] * expf(mr - mx);
      }
      lse_s[pair] = mx + logf(l);
    }
    cluster.sync();  // lse is written; no block reads another's partials any more

    // Phase 2: the weights of this block's keys.
    for (int s = rank + warp * n_ranks; s < n_stripes; s += kPrefillWarps * n_ranks) {
      const int j = first + s * kStripe + lane;
      if (j >= n_q) continue;
      float acc = c0 == i_start ? 0.0f : score[j];
      for (int hl = 0; hl < n_h; ++hl) {
        const int h = h_begin + hl;
        const K* kr = k_row(j, h);
        for (int r = max(0, j - c0); r < n_rows; ++r) {  // rows i = c0 + r >= j
          const int i = c0 + r;
          const float x = dot_row<Q, K, kVec>(q_row(i, h), kr, d) * p.scale;
          const float w = expf(x - lse_s[hl * n_rows + r]);
          acc += w;
          if (ring) {
            const int ri = i - row_begin;  // this row's place among the last m
            const int e = j - first;
            if (ri >= m - w_rows && e < p.row_capacity) {
              const int slot = (write_row + ri) % w_rows;
              const int64_t at = (row * w_rows + slot) * p.row_capacity + e;
              if (hl == 0) {
                p.ring_index[at] = j;
                p.ring_weight[at] = w;
              } else {
                p.ring_weight[at] += w;
              }
            }
          }
        }
      }
      score[j] = acc;
    }
  }
}

template <typename Q, typename K>
void launch_prefill_score(const SwaPrefillScoreParams& p, bool vec, cudaStream_t stream) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = kCluster;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(kCluster, static_cast<unsigned>(p.groups), static_cast<unsigned>(p.batch));
  config.blockDim = dim3(kPrefillThreads);
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  config.attrs = attr;
  config.numAttrs = 1;
  dispatch_bool(vec, [&](auto kVec) {
    ALISA_CUDA_CHECK(
        cudaLaunchKernelEx(&config, swa_prefill_score_kernel<Q, K, decltype(kVec)::value>, p));
  });
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace

void swa_prefill_score(const SwaPrefillScoreParams& p, cudaStream_t stream) {
  assert_float_dtype(p.dtype, "swa_prefill_score q");
  assert_float_dtype(p.kv_dtype, "swa_prefill_score k");
  ALISA_ASSERT(p.mode != SwaScore::kRecent, "swa_prefill_score: kRecent keeps no score");
  ALISA_ASSERT(p.q != nullptr && p.k != nullptr && p.sequences != nullptr && p.score != nullptr,
               "swa_prefill_score: null pointer");
  ALISA_ASSERT(p.n_heads > 0 && p.n_kv_heads > 0 && p.n_heads % p.n_kv_heads == 0,
               "swa_prefill_score: n_heads ", p.n_heads, ", n_kv_heads ", p.n_kv_heads);
  ALISA_ASSERT(p.groups == 1 || p.groups == p.n_heads, "swa_prefill_score: groups ", p.groups,
               " for ", p.n_heads, " heads");
  ALISA_ASSERT(p.n_heads / p.groups <= kMaxPairs, "swa_prefill_score: ", p.n_heads / p.groups,
               " heads per group (at most ", kMaxPairs, ")");
  ALISA_ASSERT(p.head_dim > 0 && p.n_q > 0 && p.n_q < (int64_t{1} << 31) && p.capacity >= p.n_q,
               "swa_prefill_score: head_dim ", p.head_dim, ", n_q ", p.n_q, ", capacity ",
               p.capacity);
  if (p.mode == SwaScore::kWindow) {
    ALISA_ASSERT(p.ring_index != nullptr && p.ring_weight != nullptr && p.ring_count != nullptr &&
                     p.window_rows > 0 && p.row_capacity > 0,
                 "swa_prefill_score: kWindow without a ring");
  }
  check_grid(p.batch, p.groups, "swa_prefill_score");
  const bool vec = p.head_dim % 4 == 0 &&
                   vec4_ok(p.q, p.dtype, {p.q_batch_stride, p.q_token_stride}) &&
                   vec4_ok(p.k, p.kv_dtype, {p.kv_batch_stride, p.kv_token_stride});
  dispatch_float_dtype(p.dtype, "swa_prefill_score q", [&](auto q) {
    dispatch_float_dtype(p.kv_dtype, "swa_prefill_score k", [&](auto k) {
      launch_prefill_score<typename decltype(q)::type, typename decltype(k)::type>(p, vec, stream);
    });
  });
}

}  // namespace alisa::gpu
