#include "kernels_gpu/swa.cuh"

#include <cooperative_groups.h>

#include <cub/block/block_scan.cuh>

#include "kernels_gpu/device_common.cuh"

namespace alisa::gpu {
namespace {

namespace cg = cooperative_groups;

// ---- shared helpers ----------------------------------------------------------------------------

// 4 consecutive elements as floats: 8 bytes (f16) or 16 bytes (f32), aligned to that size.
__device__ __forceinline__ void load4(const __half* src, float (&dst)[4]) {
  const uint2 raw = *reinterpret_cast<const uint2*>(src);
  const __half2* h = reinterpret_cast<const __half2*>(&raw);
  const float2 a = __half22float2(h[0]);
  const float2 b = __half22float2(h[1]);
  dst[0] = a.x;
  dst[1] = a.y;
  dst[2] = b.x;
  dst[3] = b.y;
}

__device__ __forceinline__ void load4(const float* src, float (&dst)[4]) {
  const float4 v = *reinterpret_cast<const float4*>(src);
  dst[0] = v.x;
  dst[1] = v.y;
  dst[2] = v.z;
  dst[3] = v.w;
}

bool aligned_to(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

void check_grid(int64_t batch, int64_t y, const char* name) {
  ALISA_ASSERT(batch > 0 && batch <= 65535 && y > 0 && y <= 65535, name, ": batch ", batch, " or ",
               y, " blocks per sequence beyond grid limits");
}

// ---- swa_select --------------------------------------------------------------------------------
// Grid: batch * groups blocks of kSelectThreads. The candidates' scores map to uint32 keys whose
// unsigned order is the float order (-0 = +0; NaN below everything). Four passes of 8 bits, each
// a shared histogram of the candidates that match the digits fixed so far, find the key T of the
// k-th best candidate and how many candidates equal to T are taken (the lowest indices). Then
// tiles of candidates, kSelectItems consecutive per thread, are compacted in index order: one
// block scan of (greater than T, equal to T) counts gives each winner its output slot.
constexpr int kSelectThreads = 256;
constexpr int kSelectItems = 4;
constexpr int kRadixBins = 256;

__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t u = __float_as_uint(f);
  const uint32_t magnitude = u & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return 0u;  // NaN
  if (magnitude == 0) return 0x80000000u;  // both zeros
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}

__global__ void __launch_bounds__(kSelectThreads) swa_select_kernel(SwaSelectParams p) {
  using Scan = cub::BlockScan<unsigned long long, kSelectThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ uint32_t hist[kRadixBins];
  __shared__ uint32_t found_digit, found_remaining;

  const int64_t row = blockIdx.x;  // b * groups + g
  const int64_t b = row / p.groups;
  const int tid = static_cast<int>(threadIdx.x);
  const SwaSequence seq = p.sequences[b];
  int32_t* out = p.selected + row * p.max_selected;
  const int total = static_cast<int>(min(static_cast<int64_t>(seq.total), p.max_selected));
  if (total <= 0) return;
  const int first = seq.first;
  const int n = seq.n;
  if (p.score == nullptr) {  // kRecent: the most recent tokens only
    for (int t = tid; t < total; t += kSelectThreads) out[t] = first + n - total + t;
    return;
  }
  const int local = max(0, min(seq.local, total));
  const int k = total - local;  // the global picks
  const int m = n - local;      // their candidates: [first, first + m)
  for (int t = tid; t < local; t += kSelectThreads) out[k + t] = first + m + t;
  if (k == 0) return;
  if (k >= m) {  // every candidate
    for (int t = tid; t < m; t += kSelectThreads) out[t] = first + t;
    return;
  }
  const float* score = p.score + row * p.capacity + first;

  uint32_t prefix = 0, mask = 0;
  uint32_t remaining = static_cast<uint32_t>(k);  // still to pick among keys matching prefix
  for (int pass = 0; pass < 4; ++pass) {
    const int shift = 24 - 8 * pass;
    for (int i = tid; i < kRadixBins; i += kSelectThreads) hist[i] = 0;
    __syncthreads();
    for (int i = tid; i < m; i += kSelectThreads) {
      const uint32_t key = order_key(__ldg(score + i));
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 0xffu], 1u);
    }
    __syncthreads();
    if (tid < kWarpSize) {  // the digit where the count from the top reaches `remaining`
      const int lane = tid;
      uint32_t c[8];
      uint32_t sum = 0;
#pragma unroll
      for (int q = 0; q < 8; ++q) {
        c[q] = hist[kRadixBins - 1 - 8 * lane - q];  // lane 0 holds the highest digits
        sum += c[q];
      }
      uint32_t inclusive = sum;
#pragma unroll
      for (int offset = 1; offset < kWarpSize; offset <<= 1) {
        const uint32_t other = __shfl_up_sync(kFullMask, inclusive, offset);
        if (lane >= offset) inclusive += other;
      }
      uint32_t before = inclusive - sum;
      if (before < remaining && remaining <= inclusive) {
#pragma unroll
        for (int q = 0; q < 8; ++q) {
          if (before + c[q] >= remaining) {
            found_digit = static_cast<uint32_t>(kRadixBins - 1 - 8 * lane - q);
            found_remaining = remaining - before;
            break;
          }
          before += c[q];
        }
      }
    }
    __syncthreads();
    prefix |= found_digit << shift;
    mask |= 0xffu << shift;
    remaining = found_remaining;
  }
  const uint32_t threshold = prefix;
  const uint32_t take_equal = remaining;  // keys equal to threshold taken, lowest index first

  // Ordered compaction. Counts pack as (greater << 32) + equal.
  constexpr int kTile = kSelectThreads * kSelectItems;
  unsigned long long done = 0;
  for (int base = 0; base < m; base += kTile) {
    const int i0 = base + tid * kSelectItems;
    uint32_t gt_bits = 0, eq_bits = 0;
#pragma unroll
    for (int q = 0; q < kSelectItems; ++q) {
      if (i0 + q < m) {
        const uint32_t key = order_key(__ldg(score + i0 + q));
        if (key > threshold) {
          gt_bits |= 1u << q;
        } else if (key == threshold) {
          eq_bits |= 1u << q;
        }
      }
    }
    const unsigned long long mine =
        (static_cast<unsigned long long>(__popc(gt_bits)) << 32) + __popc(eq_bits);
    unsigned long long before = 0, tile_total = 0;
    Scan(scan_storage).ExclusiveSum(mine, before, tile_total);
    before += done;
#pragma unroll
    for (int q = 0; q < kSelectItems; ++q) {
      const uint32_t gt_before = static_cast<uint32_t>(before >> 32);
      const uint32_t eq_before = static_cast<uint32_t>(before & 0xffffffffu);
      const bool gt = (gt_bits >> q) & 1u;
      const bool eq = (eq_bits >> q) & 1u;
      if (gt || (eq && eq_before < take_equal)) {
        out[gt_before + min(eq_before, take_equal)] = first + i0 + q;
      }
      before += (static_cast<unsigned long long>(gt) << 32) + (eq ? 1u : 0u);
    }
    done += tile_total;
    __syncthreads();  // scan_storage is reused
    const unsigned long long picked =
        (done >> 32) + min(static_cast<uint32_t>(done & 0xffffffffu), take_equal);
    if (picked >= static_cast<unsigned long long>(k)) break;
  }
}

// ---- sparse_attention --------------------------------------------------------------------------
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

template <typename T, typename KV, int kRows>
void launch_sparse_rows(const SparseAttentionParams& p, bool vec, dim3 grid, int head_chunks,
                        cudaStream_t stream) {
  if (vec) {
    sparse_attention_kernel<T, KV, kRows, true><<<grid, kAttnThreads, 0, stream>>>(p, head_chunks);
  } else {
    sparse_attention_kernel<T, KV, kRows, false><<<grid, kAttnThreads, 0, stream>>>(p, head_chunks);
  }
  ALISA_CUDA_CHECK_LAUNCH();
}

template <typename T, typename KV>
void launch_sparse(const SparseAttentionParams& p, int rows, bool vec, dim3 grid, int head_chunks,
                   cudaStream_t stream) {
  switch (rows) {
    case 1:
      launch_sparse_rows<T, KV, 1>(p, vec, grid, head_chunks, stream);
      break;
    case 2:
      launch_sparse_rows<T, KV, 2>(p, vec, grid, head_chunks, stream);
      break;
    case 4:
      launch_sparse_rows<T, KV, 4>(p, vec, grid, head_chunks, stream);
      break;
    default:
      launch_sparse_rows<T, KV, kAttnMaxRows>(p, vec, grid, head_chunks, stream);
      break;
  }
}

template <typename T>
void launch_sparse_kv(const SparseAttentionParams& p, int rows, bool vec, dim3 grid,
                      int head_chunks, cudaStream_t stream) {
  if (p.kv_dtype == DType::kF16) {
    launch_sparse<T, __half>(p, rows, vec, grid, head_chunks, stream);
  } else {
    launch_sparse<T, float>(p, rows, vec, grid, head_chunks, stream);
  }
}

// ---- swa_update_score --------------------------------------------------------------------------
// Grid: batch * groups blocks of kUpdateThreads; each S row is written by its block alone, and
// every score element by one thread per step (a row's indices are distinct), the steps apart by
// barriers: the dropped ring row is subtracted (kWindow) or S decayed (kDecay), then the new row
// is added and stored in the ring. The ring counts are per sequence, shared by the groups: with
// one group the block sets them after its barrier; otherwise ring_count_kernel does, after every
// group has read the count of the dropped row.
constexpr int kUpdateThreads = 256;

__global__ void __launch_bounds__(kUpdateThreads)
    swa_update_score_kernel(SwaScoreUpdateParams p, bool set_counts) {
  const int64_t row = blockIdx.x;  // b * groups + g
  const int64_t b = row / p.groups;
  const int64_t g = row % p.groups;
  const int tid = static_cast<int>(threadIdx.x);
  const SwaSequence seq = p.sequences[b];
  const int total =
      static_cast<int>(max(int64_t{0}, min(static_cast<int64_t>(seq.total), p.max_selected)));
  float* score = p.score + row * p.capacity;
  const int32_t* sel = p.selected + row * p.max_selected;
  const bool window = p.mode == SwaScore::kWindow;
  const int64_t w_rows = p.window_rows;
  const int drop = window ? seq.drop_row : -1;
  const int write = window ? seq.write_row : -1;

  if (drop >= 0 && drop < w_rows) {
    const int count = static_cast<int>(
        min(static_cast<int64_t>(p.ring_count[b * w_rows + drop]), p.row_capacity));
    const int64_t at = (row * w_rows + drop) * p.row_capacity;
    for (int j = tid; j < count; j += kUpdateThreads) {
      score[p.ring_index[at + j]] -= p.ring_weight[at + j];
    }
    __syncthreads();
  } else if (p.mode == SwaScore::kDecay) {
    for (int i = seq.first + tid; i < seq.first + seq.n; i += kUpdateThreads) score[i] *= p.gamma;
    __syncthreads();
  }

  const int64_t h_begin = p.groups == 1 ? 0 : g;
  const int64_t h_end = p.groups == 1 ? p.n_heads : g + 1;
  const bool store = write >= 0 && write < w_rows;
  const int64_t store_at = (row * w_rows + write) * p.row_capacity;
  for (int j = tid; j < total; j += kUpdateThreads) {
    float sum = 0.0f;
    for (int64_t h = h_begin; h < h_end; ++h)
      sum += p.probs[(b * p.n_heads + h) * p.max_selected + j];
    const int32_t idx = sel[j];
    score[idx] += sum;
    if (store && j < p.row_capacity) {
      p.ring_index[store_at + j] = idx;
      p.ring_weight[store_at + j] = sum;
    }
  }
  if (set_counts && window) {
    __syncthreads();  // every thread has read the dropped row's count
    if (tid == 0) {
      if (drop >= 0 && drop < w_rows) p.ring_count[b * w_rows + drop] = 0;
      if (store) p.ring_count[b * w_rows + write] = total;
    }
  }
}

__global__ void ring_count_kernel(SwaScoreUpdateParams p) {
  const int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (b >= p.batch) return;
  const SwaSequence seq = p.sequences[b];
  const int total =
      static_cast<int>(max(int64_t{0}, min(static_cast<int64_t>(seq.total), p.max_selected)));
  if (seq.drop_row >= 0 && seq.drop_row < p.window_rows)
    p.ring_count[b * p.window_rows + seq.drop_row] = 0;
  if (seq.write_row >= 0 && seq.write_row < p.window_rows) {
    p.ring_count[b * p.window_rows + seq.write_row] = total;
  }
}

// ---- swa_prefill_score -------------------------------------------------------------------------
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
      float mx = -INFINITY, l = 0.0f;
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
      const float scaled = mx == -INFINITY ? 0.0f : l * expf(mx - block_max);
      const float block_sum = warp_sum(scaled);
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
  if (vec) {
    ALISA_CUDA_CHECK(cudaLaunchKernelEx(&config, swa_prefill_score_kernel<Q, K, true>, p));
  } else {
    ALISA_CUDA_CHECK(cudaLaunchKernelEx(&config, swa_prefill_score_kernel<Q, K, false>, p));
  }
  ALISA_CUDA_CHECK_LAUNCH();
}

template <typename Q>
void launch_prefill_score_kv(const SwaPrefillScoreParams& p, bool vec, cudaStream_t stream) {
  if (p.kv_dtype == DType::kF16) {
    launch_prefill_score<Q, __half>(p, vec, stream);
  } else {
    launch_prefill_score<Q, float>(p, vec, stream);
  }
}

// ---- swa_gather_hidden -------------------------------------------------------------------------
// Grid (max_rows, batch), kGatherThreads threads: block (j, b) copies hidden row selected[b, 0, j]
// into rows[b, j] (or zeroes it) and writes its position. A bitwise copy in words of W bytes, the
// widest that every row's source and destination address and the row length allow; plain loads
// (hidden may be mapped host memory).
constexpr int kGatherThreads = 128;

template <typename W>
__global__ void __launch_bounds__(kGatherThreads)
    swa_gather_hidden_kernel(SwaGatherHiddenParams p, int64_t element) {
  const int64_t j = blockIdx.x;
  const int64_t b = blockIdx.y;
  const SwaSequence seq = p.sequences[b];
  const int64_t slot = b * p.max_rows + j;
  const int64_t words = p.hidden_dim * element / static_cast<int64_t>(sizeof(W));
  W* dst = reinterpret_cast<W*>(static_cast<char*>(p.rows) + slot * p.hidden_dim * element);
  const int32_t idx = j < seq.total && j < p.max_selected ? p.selected[b * p.max_selected + j] : -1;
  if (idx < 0 || idx >= p.below) {
    if (threadIdx.x == 0) p.positions[slot] = p.position_offset;
    for (int64_t i = threadIdx.x; i < words; i += kGatherThreads) dst[i] = W{};
    return;
  }
  if (threadIdx.x == 0) p.positions[slot] = idx - seq.first + p.position_offset;
  const W* src = reinterpret_cast<const W*>(
      static_cast<const char*>(p.hidden) +
      (b * p.hidden_batch_stride + idx * p.hidden_token_stride) * element);
  for (int64_t i = threadIdx.x; i < words; i += kGatherThreads) dst[i] = src[i];
}

// Rows of 4 elements of `dtype` from `base`, `stride` elements apart, are aligned for load4.
bool vec4_ok(const void* base, DType dtype, std::initializer_list<int64_t> strides) {
  if (!aligned_to(base, 4 * dtype_size(dtype))) return false;
  for (const int64_t s : strides) {
    if (s % 4 != 0) return false;
  }
  return true;
}

}  // namespace

void swa_select(const SwaSelectParams& p, cudaStream_t stream) {
  ALISA_ASSERT(p.sequences != nullptr && p.selected != nullptr, "swa_select: null pointer");
  ALISA_ASSERT(p.groups > 0 && p.max_selected > 0 && p.max_selected < (int64_t{1} << 31),
               "swa_select: groups ", p.groups, ", max_selected ", p.max_selected);
  ALISA_ASSERT(p.score == nullptr || (p.capacity > 0 && p.capacity < (int64_t{1} << 31)),
               "swa_select: capacity ", p.capacity);
  ALISA_ASSERT(p.batch > 0 && p.batch * p.groups < (int64_t{1} << 31), "swa_select: batch ",
               p.batch, " x groups ", p.groups);
  swa_select_kernel<<<static_cast<unsigned>(p.batch * p.groups), kSelectThreads, 0, stream>>>(p);
  ALISA_CUDA_CHECK_LAUNCH();
}

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
  int rows = 1;
  if (shared) {
    while (rows < kAttnMaxRows && rows < group) rows *= 2;
  }
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
  if (p.dtype == DType::kF16) {
    launch_sparse_kv<__half>(p, rows, vec, grid, chunks, stream);
  } else {
    launch_sparse_kv<float>(p, rows, vec, grid, chunks, stream);
  }
}

void swa_gather_hidden(const SwaGatherHiddenParams& p, cudaStream_t stream) {
  ALISA_ASSERT(p.batch >= 0 && p.max_rows >= 0 && p.hidden_dim > 0 && p.below >= 0,
               "swa_gather_hidden: batch ", p.batch, ", max_rows ", p.max_rows, ", hidden_dim ",
               p.hidden_dim, ", below ", p.below);
  if (p.batch == 0 || p.max_rows == 0) return;
  ALISA_ASSERT(p.selected != nullptr && p.sequences != nullptr && p.rows != nullptr &&
                   p.positions != nullptr && (p.hidden != nullptr || p.below == 0),
               "swa_gather_hidden: null pointer");
  ALISA_ASSERT(p.max_selected > 0 && p.max_selected < (int64_t{1} << 31),
               "swa_gather_hidden: max_selected ", p.max_selected);
  ALISA_ASSERT(p.max_rows <= (int64_t{1} << 31) - 1, "swa_gather_hidden: max_rows ", p.max_rows);
  check_grid(p.batch, 1, "swa_gather_hidden");
  const int64_t element = static_cast<int64_t>(dtype_size(p.dtype));
  ALISA_ASSERT(element > 0, "swa_gather_hidden: dtype ", dtype_name(p.dtype));
  // The widest word that divides every row's source and destination address and the row length.
  const uint64_t bits = reinterpret_cast<uintptr_t>(p.hidden) |
                        reinterpret_cast<uintptr_t>(p.rows) |
                        static_cast<uint64_t>(p.hidden_dim * element) |
                        static_cast<uint64_t>(p.hidden_batch_stride * element) |
                        static_cast<uint64_t>(p.hidden_token_stride * element);
  const dim3 grid(static_cast<unsigned>(p.max_rows), static_cast<unsigned>(p.batch));
  if (bits % 16 == 0) {
    swa_gather_hidden_kernel<uint4><<<grid, kGatherThreads, 0, stream>>>(p, element);
  } else if (bits % 8 == 0) {
    swa_gather_hidden_kernel<uint2><<<grid, kGatherThreads, 0, stream>>>(p, element);
  } else if (bits % 4 == 0) {
    swa_gather_hidden_kernel<uint32_t><<<grid, kGatherThreads, 0, stream>>>(p, element);
  } else if (bits % 2 == 0) {
    swa_gather_hidden_kernel<uint16_t><<<grid, kGatherThreads, 0, stream>>>(p, element);
  } else {
    swa_gather_hidden_kernel<uint8_t><<<grid, kGatherThreads, 0, stream>>>(p, element);
  }
  ALISA_CUDA_CHECK_LAUNCH();
}

void swa_update_score(const SwaScoreUpdateParams& p, cudaStream_t stream) {
  ALISA_ASSERT(p.mode != SwaScore::kRecent, "swa_update_score: kRecent keeps no score");
  ALISA_ASSERT(
      p.probs != nullptr && p.selected != nullptr && p.sequences != nullptr && p.score != nullptr,
      "swa_update_score: null pointer");
  ALISA_ASSERT(p.n_heads > 0 && (p.groups == 1 || p.groups == p.n_heads),
               "swa_update_score: groups ", p.groups, " for ", p.n_heads, " heads");
  ALISA_ASSERT(p.max_selected > 0 && p.max_selected < (int64_t{1} << 31) && p.capacity > 0,
               "swa_update_score: max_selected ", p.max_selected, ", capacity ", p.capacity);
  const bool window = p.mode == SwaScore::kWindow;
  if (window) {
    ALISA_ASSERT(p.ring_index != nullptr && p.ring_weight != nullptr && p.ring_count != nullptr &&
                     p.window_rows > 0 && p.row_capacity > 0,
                 "swa_update_score: kWindow without a ring");
  }
  ALISA_ASSERT(p.batch > 0 && p.batch * p.groups < (int64_t{1} << 31), "swa_update_score: batch ",
               p.batch, " x groups ", p.groups);
  // One group: the block sets the ring counts itself; otherwise a second kernel does, once every
  // group's block has read them.
  const bool counts_in_block = p.groups == 1;
  swa_update_score_kernel<<<static_cast<unsigned>(p.batch * p.groups), kUpdateThreads, 0, stream>>>(
      p, counts_in_block);
  ALISA_CUDA_CHECK_LAUNCH();
  if (window && !counts_in_block) {
    constexpr int kThreads = 128;
    ring_count_kernel<<<static_cast<unsigned>(ceil_div(p.batch, kThreads)), kThreads, 0, stream>>>(
        p);
    ALISA_CUDA_CHECK_LAUNCH();
  }
}

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
  if (p.dtype == DType::kF16) {
    launch_prefill_score_kv<__half>(p, vec, stream);
  } else {
    launch_prefill_score_kv<float>(p, vec, stream);
  }
}

}  // namespace alisa::gpu
