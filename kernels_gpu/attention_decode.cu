#include "kernels_gpu/attention_decode.cuh"

#include <atomic>

#include "kernels_gpu/attention_common.cuh"
#include "kernels_gpu/dispatch.cuh"
#include "kernels_gpu/online_softmax.cuh"

namespace alisa::gpu {
namespace {

using detail::attention_key_end;
using detail::cp_async_16;
using detail::cp_async_commit;
using detail::cp_async_wait;
using detail::Exp2;
using detail::ExpE;
using detail::kAttentionMaxHeadDim;
using detail::kLog2e;
using detail::load_head_rows;
using detail::OnlineSoftmax;
using detail::SoftmaxStep;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kMaxRows = 8;  // query rows (query x head of the group) per block
constexpr int64_t kMaxSplits = 256;
// Blocks resident at once on an H100 (132 SMs, two blocks of the f16 kernel each). Shape-only on
// purpose: the split count, and so the result, does not depend on the device.
constexpr int64_t kResidentBlocks = 2 * 132;
constexpr int64_t kSplitGranule = 64;  // keys: a split's length is a multiple of this
constexpr float kLn2 = 0.6931471805599453f;

struct Splits {
  int64_t n = 1;     // key chunks
  int64_t keys = 1;  // keys per chunk, a multiple of kSplitGranule
};

int64_t row_chunks(const AttentionParams& p) {
  return ceil_div(p.n_q * (p.n_heads / p.n_kv_heads), kMaxRows);
}

// Enough chunks that the blocks fill the GPU once (the f16 kernel streams at full bandwidth with
// one resident wave; more chunks only add partials to merge). One chunk, and no merge, when the
// batch alone fills it.
Splits plan_splits(const AttentionParams& p) {
  const int64_t keys = std::max<int64_t>(1, attention_key_end(p, 0, p.n_q));
  const int64_t base_blocks = p.batch * p.n_kv_heads * row_chunks(p);
  const int64_t want = std::clamp<int64_t>(kResidentBlocks / base_blocks, 1, kMaxSplits);
  Splits s;
  s.keys = ceil_div(ceil_div(keys, want), kSplitGranule) * kSplitGranule;
  s.n = ceil_div(keys, s.keys);  // <= want, and no empty chunk
  return s;
}

size_t align256(size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

// Workspace: o [splits][batch][n_q][n_heads][head_dim], then m and l [splits][batch][n_q][n_heads].
// m is the chunk's maximum score (natural-log units), l its sum of exp(score - m), o its
// unnormalised output.
struct WorkspaceLayout {
  size_t o = 0, m = 0, l = 0, bytes = 0;
};

WorkspaceLayout workspace_layout(int64_t n_splits, int64_t batch, int64_t n_q, int64_t n_heads,
                                 int64_t head_dim) {
  const size_t rows = static_cast<size_t>(n_splits * batch * n_q * n_heads);
  WorkspaceLayout w;
  w.m = align256(rows * static_cast<size_t>(head_dim) * sizeof(float));
  w.l = w.m + align256(rows * sizeof(float));
  w.bytes = w.l + align256(rows * sizeof(float));
  return w;
}

// ---- device helpers ----------------------------------------------------------------------------

// Programmatic dependent launch: the split kernel lets the merge kernel be scheduled early; the
// merge kernel waits for the split kernel to complete (and its writes to be visible) before
// reading anything. Both are no-ops when the launch carries no programmatic dependency.
__device__ __forceinline__ void launch_dependents() {
#if defined(__CUDA_ARCH__)
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wait_for_primary() {
#if defined(__CUDA_ARCH__)
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

// kRows floats from 16-byte aligned shared memory.
template <int kRows>
__device__ __forceinline__ void load_rows(const float* src, float (&dst)[kRows]) {
  if constexpr (kRows % 4 == 0) {
#pragma unroll
    for (int i = 0; i < kRows; i += 4) {
      const float4 v = *reinterpret_cast<const float4*>(src + i);
      dst[i] = v.x;
      dst[i + 1] = v.y;
      dst[i + 2] = v.z;
      dst[i + 3] = v.w;
    }
  } else {
#pragma unroll
    for (int i = 0; i < kRows; ++i) dst[i] = src[i];
  }
}

template <int kRows>
__device__ __forceinline__ void store_rows(float* dst, const float (&src)[kRows]) {
  if constexpr (kRows % 4 == 0) {
#pragma unroll
    for (int i = 0; i < kRows; i += 4) {
      *reinterpret_cast<float4*>(dst + i) = make_float4(src[i], src[i + 1], src[i + 2], src[i + 3]);
    }
  } else {
#pragma unroll
    for (int i = 0; i < kRows; ++i) dst[i] = src[i];
  }
}

// ---- f16 split kernel ------------------------------------------------------------------------
// Grid (splits, n_kv_heads * row chunks, batch); block: one key chunk of one kv head for up to
// kMaxRows query rows of its group (row = query index * group + head within the group; kRows is
// the row count rounded up to a power of two). Needs head_dim % 8 == 0 and 16-byte aligned rows.
//
// Each of the 4 warps streams its own 16-key tiles of the chunk (warp w takes tiles w, w + 4, ...)
// with cp.async into a private 3-stage ring of K and V (f16, rows padded to an odd number of
// 16-byte chunks: conflict-free), so the copies of the next two tiles are in flight while one is
// computed, and the warps never wait for each other until the end. Masked and out-of-range keys
// are zero-filled by the copy (never read) and get score -inf. Per tile:
//   scores: lane (half h, key j) dots its half of the head's 16-byte chunks with every row of q
//           (f32, pre-scaled by scale * log2 e, in shared memory); one shuffle adds the halves;
//   softmax: per row a 16-lane max and sum (online, base 2, f32);
//   P V: lane owns 4 dims and accumulates every row over the tile's keys (probabilities from
//        shared memory), after rescaling by the row's alpha.
// At the end the warps' (m, l, o) are merged in shared memory, and the block writes either the
// output (one split) or its partial (m in natural-log units) for decode_merge_kernel.
constexpr int kWarpKeys = 16;
constexpr int kStages = 3;
static_assert(kWarpKeys * 2 == kWarpSize, "a key per half-warp lane in the score step");

__host__ __device__ constexpr int padded_chunks(int head_dim) {
  return (head_dim / 8) | 1;  // 16-byte chunks per K/V row in shared memory: odd
}

size_t f16_kernel_smem(int rows, int head_dim) {
  return sizeof(__half) * kWarps * kStages * 2 * kWarpKeys * padded_chunks(head_dim) * 8 +
         sizeof(float) * (rows * head_dim + kWarps * kWarpKeys * rows);
}

template <int kRows, int kDim>
__global__ void __launch_bounds__(kThreads, 2)
    decode_f16_kernel(AttentionParams p, int keys_per_split, int n_splits, float* o_part,
                      float* m_part, float* l_part) {
  static_assert(kRows == 1 || kRows == 2 || kRows == 4 || kRows == 8, "rows per block");
  static_assert(kDim % 16 == 0 && kDim <= kAttentionMaxHeadDim, "an even number of chunks");
  launch_dependents();
  extern __shared__ float4 smem_f4[];
  const int d = kDim > 0 ? kDim : static_cast<int>(p.head_dim);
  const int n_chunks = d / 8;
  const int ldh = padded_chunks(d) * 8;  // K/V row stride in halves
  const int warp_halves = kStages * 2 * kWarpKeys * ldh;
  __half* kv_s = reinterpret_cast<__half*>(smem_f4);  // [warp][stage][K|V][key][ldh]
  float* q_s = reinterpret_cast<float*>(kv_s + kWarps * warp_halves);  // [kRows][d]
  float* p_s = q_s + kRows * d;                                        // [warp][key][kRows]

  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int group = static_cast<int>(p.n_heads / p.n_kv_heads);
  const int n_rows_total = static_cast<int>(p.n_q) * group;
  const int chunks = (n_rows_total + kMaxRows - 1) / kMaxRows;
  const int kvh = static_cast<int>(blockIdx.y) / chunks;
  const int row0 = static_cast<int>(blockIdx.y % chunks) * kMaxRows;
  const int n_rows = min(kRows, n_rows_total - row0);
  const int64_t b = blockIdx.z;
  const int split = static_cast<int>(blockIdx.x);

  int limit[kRows];  // causal: row r sees keys <= limit[r]
#pragma unroll
  for (int r = 0; r < kRows; ++r) limit[r] = static_cast<int>(p.q_start) + (row0 + r) / group;

  const __half* k =
      static_cast<const __half*>(p.k) + b * p.kv_batch_stride + static_cast<int64_t>(kvh) * d;
  const __half* v =
      static_cast<const __half*>(p.v) + b * p.kv_batch_stride + static_cast<int64_t>(kvh) * d;
  const uint8_t* mask = p.key_mask != nullptr ? p.key_mask + b * p.mask_batch_stride : nullptr;
  const int key_end = static_cast<int>(attention_key_end(p, 0, p.n_q));
  const int begin = split * keys_per_split;
  const int end = min(key_end, begin + keys_per_split);
  const int block_tiles = (end - begin + kWarpKeys - 1) / kWarpKeys;
  const int n_tiles = block_tiles > warp ? (block_tiles - warp + kWarps - 1) / kWarps : 0;
  __half* ring = kv_s + warp * warp_halves;
  float* probs_s = p_s + warp * kWarpKeys * kRows;
  auto tile_key0 = [&](int t) { return begin + (warp + t * kWarps) * kWarpKeys; };

  // Lanes 0..15: whether key `lane` of tile t is real (cached, unmasked, in the chunk). The mask
  // byte is read a tile before the copies that need it.
  auto lane_key_ok = [&](int t) {
    const int j = tile_key0(t) + lane;
    return t < n_tiles && lane < kWarpKeys && j < end && (mask == nullptr || mask[j] != 0);
  };
  // Starts tile t's K and V copies into `stage`; returns its valid-key bits.
  auto issue = [&](int t, int stage, bool ok) {
    const unsigned bits = __ballot_sync(kFullMask, ok);
    if (t < n_tiles) {
      const int64_t key0 = tile_key0(t);
      __half* ks = ring + stage * 2 * kWarpKeys * ldh;
      __half* vs = ks + kWarpKeys * ldh;
      for (int item = lane; item < kWarpKeys * n_chunks; item += kWarpSize) {
        const int key = item / n_chunks;
        const int c = item - key * n_chunks;
        const bool valid = (bits >> key) & 1u;
        const int64_t offset = valid ? (key0 + key) * p.kv_token_stride + c * 8 : 0;
        cp_async_16(ks + key * ldh + c * 8, k + offset, valid);
        cp_async_16(vs + key * ldh + c * 8, v + offset, valid);
      }
    }
    return bits;
  };

  float m[kRows], l[kRows], acc[kRows][4];  // per row: online-softmax state (base 2), output
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[r][e] = 0.0f;
  }

  // The mask bytes of the first tiles and this thread's share of q are loaded together; the first
  // copies go out as soon as the mask bytes are in, and q is stored while they are in flight.
  bool ok[kStages];
#pragma unroll
  for (int s = 0; s < kStages; ++s) ok[s] = lane_key_ok(s);
  constexpr int kQPerThread = kRows * kAttentionMaxHeadDim / kThreads;
  __half q_h[kQPerThread];
#pragma unroll
  for (int i = 0; i < kQPerThread; ++i) {
    const int item = threadIdx.x + i * kThreads;
    const int r = item / d;
    q_h[i] = __float2half_rn(0.0f);
    if (item < kRows * d && r < n_rows) {
      const int c = item - r * d;
      const int qi = (row0 + r) / group;
      const int head = kvh * group + (row0 + r) % group;
      q_h[i] = static_cast<const __half*>(
          p.q)[b * p.q_batch_stride + qi * p.q_token_stride + static_cast<int64_t>(head) * d + c];
    }
  }
  unsigned bits[kStages - 1];  // valid keys of the tiles in flight, oldest first
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    bits[s] = issue(s, s, ok[s]);
    cp_async_commit();
  }
  bool next_ok = ok[kStages - 1];
  const float q_scale = p.scale * kLog2e;  // scores in base-2 units
#pragma unroll
  for (int i = 0; i < kQPerThread; ++i) {
    const int item = threadIdx.x + i * kThreads;
    if (item < kRows * d) q_s[item] = __half2float(q_h[i]) * q_scale;
  }
  __syncthreads();  // q_s is written

  const int h = lane / kWarpKeys;   // score step: which half of the chunks
  const int jj = lane % kWarpKeys;  // score step: which key of the tile
  const bool pv_lane = lane * 4 < d;
  int stage = 0;
  for (int t = 0; t < n_tiles; ++t) {
    cp_async_wait<kStages - 2>();  // this lane's copies of tile t are done
    __syncwarp();                  // ... everyone's, and tile t - 1 is consumed
    const unsigned cur = bits[0];
#pragma unroll
    for (int s = 0; s + 1 < kStages - 1; ++s) bits[s] = bits[s + 1];
    const int refill = stage == 0 ? kStages - 1 : stage - 1;  // the stage tile t - 1 used
    bits[kStages - 2] = issue(t + kStages - 1, refill, next_ok);
    cp_async_commit();
    next_ok = lane_key_ok(t + kStages);

    const __half* ks = ring + stage * 2 * kWarpKeys * ldh;
    const __half* vs = ks + kWarpKeys * ldh;
    stage = stage + 1 == kStages ? 0 : stage + 1;

    // Scores (base-2 logits) of key jj for every row, over this lane's half of the chunks.
    float dot[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) dot[r] = 0.0f;
    const __half* krow = ks + jj * ldh;
#pragma unroll
    for (int c0 = 0; c0 < (kDim > 0 ? kDim / 8 : kAttentionMaxHeadDim / 8); c0 += 2) {
      const int c = c0 + h;
      if (kDim == 0 && c >= n_chunks) break;
      float kf[8];
      halves_to_float(*reinterpret_cast<const uint4*>(krow + c * 8), kf);
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float4 q0 = *reinterpret_cast<const float4*>(q_s + r * d + c * 8);
        const float4 q1 = *reinterpret_cast<const float4*>(q_s + r * d + c * 8 + 4);
        float s = dot[r];
        s = fmaf(q0.x, kf[0], s);
        s = fmaf(q0.y, kf[1], s);
        s = fmaf(q0.z, kf[2], s);
        s = fmaf(q0.w, kf[3], s);
        s = fmaf(q1.x, kf[4], s);
        s = fmaf(q1.y, kf[5], s);
        s = fmaf(q1.z, kf[6], s);
        s = fmaf(q1.w, kf[7], s);
        dot[r] = s;
      }
    }

    // Online softmax per row; both half-warps hold the same 16 scores, so every lane agrees.
    const int key = tile_key0(t) + jj;
    const bool key_ok = (cur >> jj) & 1u;
    float prob[kRows], alpha[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float s = dot[r] + __shfl_xor_sync(kFullMask, dot[r], 16);
      s = key_ok && key <= limit[r] ? s : -INFINITY;
      OnlineSoftmax<Exp2> softmax{m[r], l[r]};
      const SoftmaxStep step = softmax.update<kWarpKeys>(s);  // over each half-warp
      l[r] = softmax.l;
      m[r] = softmax.m;
      alpha[r] = step.alpha;
      prob[r] = step.prob;
    }
    if (h == 0) store_rows<kRows>(probs_s + jj * kRows, prob);
    __syncwarp();

    // P V over the tile's keys for this lane's 4 dims.
    if (pv_lane) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[r][e] *= alpha[r];
      }
#pragma unroll
      for (int j = 0; j < kWarpKeys; ++j) {
        float vf[4];
        halves_to_float(*reinterpret_cast<const uint2*>(vs + j * ldh + lane * 4), vf);
        float pj[kRows];
        load_rows<kRows>(probs_s + j * kRows, pj);
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[r][e] = fmaf(pj[r], vf[e], acc[r][e]);
        }
      }
    }
  }
  cp_async_wait<0>();  // (only empty groups can be left)
  __syncthreads();     // every warp is done with its ring: reuse it for the merge

  float* red_m = reinterpret_cast<float*>(smem_f4);  // [warp][kRows]
  float* red_l = red_m + kWarps * kRows;             // [warp][kRows]
  float* red_o = red_l + kWarps * kRows;             // [warp][kRows][d]
  if (lane == 0) {
    store_rows<kRows>(red_m + warp * kRows, m);
    store_rows<kRows>(red_l + warp * kRows, l);
  }
  if (pv_lane) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      *reinterpret_cast<float4*>(red_o + (warp * kRows + r) * d + lane * 4) =
          make_float4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
    }
  }
  __syncthreads();

  for (int item = threadIdx.x; item < n_rows * d; item += kThreads) {
    const int r = item / d;
    const int c = item - r * d;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, red_m[w * kRows + r]);
    float sum = 0.0f;
    float o = 0.0f;
    if (mx != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float weight = exp2f(red_m[w * kRows + r] - mx);  // 0 for a warp that saw no key
        sum += weight * red_l[w * kRows + r];
        o += weight * red_o[(w * kRows + r) * d + c];
      }
    }
    const int qi = (row0 + r) / group;
    const int head = kvh * group + (row0 + r) % group;
    if (n_splits == 1) {
      static_cast<__half*>(p.out)[b * p.out_batch_stride + qi * p.out_token_stride +
                                  static_cast<int64_t>(head) * d + c] =
          __float2half_rn(sum > 0.0f ? o / sum : 0.0f);
    } else {
      const int64_t index = ((split * p.batch + b) * p.n_q + qi) * p.n_heads + head;
      o_part[index * d + c] = o;
      if (c == 0) {
        m_part[index] = mx * kLn2;  // -inf stays -inf
        l_part[index] = sum;
      }
    }
  }
}

// ---- generic split kernel (f32, or f16 with odd head_dim / unaligned rows) ----------------------
constexpr int kBlockK = 32;  // keys per tile: one per lane in the softmax step
constexpr int kPairs = kMaxRows * kAttentionMaxHeadDim / kThreads;  // (row, dim) outputs/thread
static_assert(kBlockK == kWarpSize, "the softmax step maps one key per lane");
static_assert(kMaxRows * kAttentionMaxHeadDim % kThreads == 0, "pairs per thread");
static_assert(kSplitGranule % kBlockK == 0, "whole tiles per split");

// Same grid and rows as decode_f16_kernel. Each thread keeps kPairs (row, dim) output
// accumulators in registers; K/V tiles are staged as float. Always writes partials.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    decode_split_kernel(AttentionParams p, int64_t tiles_per_split, float* o_part, float* m_part,
                        float* l_part, bool vec) {
  launch_dependents();
  extern __shared__ float4 smem_f4[];
  const int d = static_cast<int>(p.head_dim);
  const int ldk = d + 1;  // odd stride: one key per lane without bank conflicts
  float* q_s = reinterpret_cast<float*>(smem_f4);       // [kMaxRows][d]
  float* k_s = q_s + kMaxRows * d;                      // [kBlockK][d + 1]
  float* v_s = k_s + kBlockK * ldk;                     // [kBlockK][d]
  float* s_s = v_s + kBlockK * d;                       // [kMaxRows][kBlockK]
  float* m_s = s_s + kMaxRows * kBlockK;                // [kMaxRows]
  float* l_s = m_s + kMaxRows;                          // [kMaxRows]
  float* a_s = l_s + kMaxRows;                          // [kMaxRows] rescale of this tile
  int* vis_s = reinterpret_cast<int*>(a_s + kMaxRows);  // [kBlockK]

  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int group = static_cast<int>(p.n_heads / p.n_kv_heads);
  const int64_t n_rows_total = p.n_q * group;
  const int chunks = static_cast<int>(ceil_div(n_rows_total, kMaxRows));
  const int kvh = blockIdx.y / chunks;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y % chunks) * kMaxRows;
  const int n_rows = static_cast<int>(min(static_cast<int64_t>(kMaxRows), n_rows_total - row0));
  const int64_t b = blockIdx.z;
  const int64_t split = blockIdx.x;

  for (int item = threadIdx.x; item < kMaxRows * d; item += kThreads) {
    const int r = item / d;
    const int c = item - r * d;
    float value = 0.0f;
    if (r < n_rows) {
      const int64_t qi = (row0 + r) / group;
      const int64_t head = kvh * group + (row0 + r) % group;
      value = to_float(
          static_cast<const T*>(p.q)[b * p.q_batch_stride + qi * p.q_token_stride + head * d + c]);
    }
    q_s[item] = value;
  }
  if (threadIdx.x < kMaxRows) {
    m_s[threadIdx.x] = -INFINITY;
    l_s[threadIdx.x] = 0.0f;
  }
  float acc[kPairs];
#pragma unroll
  for (int i = 0; i < kPairs; ++i) acc[i] = 0.0f;

  const T* k = static_cast<const T*>(p.k) + b * p.kv_batch_stride + kvh * d;
  const T* v = static_cast<const T*>(p.v) + b * p.kv_batch_stride + kvh * d;
  const uint8_t* mask = p.key_mask != nullptr ? p.key_mask + b * p.mask_batch_stride : nullptr;
  const int64_t key_end = attention_key_end(p, 0, p.n_q);
  const int64_t begin = split * tiles_per_split * kBlockK;
  const int64_t end = min(key_end, begin + tiles_per_split * kBlockK);

  for (int64_t kt0 = begin; kt0 < end; kt0 += kBlockK) {
    __syncthreads();  // the previous tile is consumed (and the setup above is done)
    auto key_valid = [&](int row) {
      const int64_t j = kt0 + row;
      return j < end && (mask == nullptr || mask[j] != 0);
    };
    load_head_rows(k_s, ldk, k + kt0 * p.kv_token_stride, p.kv_token_stride, kBlockK, d, d, vec,
                   key_valid);
    load_head_rows(v_s, d, v + kt0 * p.kv_token_stride, p.kv_token_stride, kBlockK, d, d, vec,
                   key_valid);
    if (threadIdx.x < kBlockK) vis_s[threadIdx.x] = key_valid(threadIdx.x) ? 1 : 0;
    __syncthreads();
    for (int item = threadIdx.x; item < n_rows * kBlockK; item += kThreads) {
      const int r = item / kBlockK;
      const int jj = item - r * kBlockK;
      const int64_t qi = (row0 + r) / group;
      float s = -INFINITY;
      if (vis_s[jj] != 0 && kt0 + jj <= p.q_start + qi) {
        float dot = 0.0f;
        for (int c = 0; c < d; ++c) dot += q_s[r * d + c] * k_s[jj * ldk + c];
        s = dot * p.scale;
      }
      s_s[item] = s;
    }
    __syncthreads();
    for (int r = warp; r < n_rows; r += kWarps) {  // online softmax, one key per lane
      const float s = s_s[r * kBlockK + lane];
      OnlineSoftmax<ExpE> softmax{m_s[r], l_s[r]};
      const SoftmaxStep step = softmax.update<kWarpSize>(s);
      s_s[r * kBlockK + lane] = step.prob;
      __syncwarp();  // every lane has read m_s[r] / l_s[r]
      if (lane == 0) {
        m_s[r] = softmax.m;
        l_s[r] = softmax.l;
        a_s[r] = step.alpha;
      }
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kPairs; ++i) {
      const int pair = threadIdx.x + i * kThreads;
      const int r = pair / d;
      const int c = pair - r * d;
      if (r < n_rows) {
        float a = acc[i] * a_s[r];
#pragma unroll 8
        for (int jj = 0; jj < kBlockK; ++jj) a += s_s[r * kBlockK + jj] * v_s[jj * d + c];
        acc[i] = a;
      }
    }
  }
  __syncthreads();

  auto part_index = [&](int r) {
    const int64_t qi = (row0 + r) / group;
    const int64_t head = kvh * group + (row0 + r) % group;
    return ((split * p.batch + b) * p.n_q + qi) * p.n_heads + head;
  };
#pragma unroll
  for (int i = 0; i < kPairs; ++i) {
    const int pair = threadIdx.x + i * kThreads;
    const int r = pair / d;
    const int c = pair - r * d;
    if (r < n_rows) o_part[part_index(r) * d + c] = acc[i];
  }
  if (threadIdx.x < n_rows) {
    m_part[part_index(threadIdx.x)] = m_s[threadIdx.x];
    l_part[part_index(threadIdx.x)] = l_s[threadIdx.x];
  }
}

// ---- merge -------------------------------------------------------------------------------------
// Grid (n_q * n_heads, batch), one thread per dim: out = sum_s w_s o_s / sum_s w_s l_s with
// w_s = exp(m_s - max m). Chunks that saw no key have m = -inf, so w = 0; a row no chunk saw gets
// zeros. The threads share the m / l work over the splits, and the warps the o work.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    decode_merge_kernel(AttentionParams p, int n_splits, const float* o_part, const float* m_part,
                        const float* l_part) {
  constexpr int kDimsPerLane = kAttentionMaxHeadDim / kWarpSize;
  constexpr int kSplitsPerThread = kMaxSplits / kThreads;
  static_assert(kMaxSplits % kThreads == 0, "splits per thread");
  __shared__ float w_s[kMaxSplits];
  __shared__ float red_s[2][kWarps];
  __shared__ float o_s[kWarps][kAttentionMaxHeadDim];
  wait_for_primary();
  const int64_t qi = blockIdx.x / p.n_heads;
  const int64_t head = blockIdx.x % p.n_heads;
  const int64_t b = blockIdx.y;
  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int d = static_cast<int>(p.head_dim);
  const int64_t row = (b * p.n_q + qi) * p.n_heads + head;  // index of split 0
  const int64_t split_stride = p.batch * p.n_q * p.n_heads;

  // Thread t holds splits t and t + kThreads.
  float ms[kSplitsPerThread], ls[kSplitsPerThread];
#pragma unroll
  for (int k = 0; k < kSplitsPerThread; ++k) {
    const int s = threadIdx.x + k * kThreads;
    ms[k] = -INFINITY;
    ls[k] = 0.0f;
    if (s < n_splits) {
      ms[k] = m_part[row + s * split_stride];
      ls[k] = l_part[row + s * split_stride];
    }
  }
  float m = -INFINITY;
#pragma unroll
  for (int k = 0; k < kSplitsPerThread; ++k) m = fmaxf(m, ms[k]);
  m = warp_max(m);
  if (lane == 0) red_s[0][warp] = m;
  __syncthreads();
#pragma unroll
  for (int w = 0; w < kWarps; ++w) m = fmaxf(m, red_s[0][w]);

  float l = 0.0f;
#pragma unroll
  for (int k = 0; k < kSplitsPerThread; ++k) {
    const int s = threadIdx.x + k * kThreads;
    const float w = m == -INFINITY ? 0.0f : expf(ms[k] - m);  // 0 for a chunk that saw no key
    if (s < n_splits) w_s[s] = w;
    l += w * ls[k];
  }
  l = warp_sum(l);
  if (lane == 0) red_s[1][warp] = l;
  __syncthreads();  // w_s and red_s[1] are written
  l = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) l += red_s[1][w];

  // Warp w sums splits w, w + 4, ...; lane covers dims lane + 32 j (independent loads).
  float acc[kDimsPerLane] = {};
  for (int s = warp; s < n_splits; s += kWarps) {
    const float w = w_s[s];
    const float* src = o_part + (row + s * split_stride) * d;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j) {
      const int c = lane + kWarpSize * j;
      if (c < d) acc[j] = fmaf(w, src[c], acc[j]);
    }
  }
#pragma unroll
  for (int j = 0; j < kDimsPerLane; ++j) {
    const int c = lane + kWarpSize * j;
    if (c < d) o_s[warp][c] = acc[j];
  }
  __syncthreads();
  const int c = threadIdx.x;
  if (c >= d) return;
  float o = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) o += o_s[w][c];
  const float value = l > 0.0f ? o / l : 0.0f;
  T* out = static_cast<T*>(p.out);
  out[b * p.out_batch_stride + qi * p.out_token_stride + head * d + c] = from_float<T>(value);
}

// ---- launch ------------------------------------------------------------------------------------

// Raises a kernel's dynamic shared-memory limit to `smem` and asks for the largest shared-memory
// carveout (so that two blocks fit on an SM), once per device; `prepared` holds one bit per device
// and belongs to this kernel alone.
template <typename Kernel>
void prepare_kernel(Kernel kernel, size_t smem, std::atomic<uint64_t>& prepared) {
  int device = 0;
  ALISA_CUDA_CHECK(cudaGetDevice(&device));
  const uint64_t bit = device < 64 ? uint64_t{1} << device : 0;
  if (bit != 0 && (prepared.load(std::memory_order_acquire) & bit) != 0) return;
  allow_dynamic_smem(kernel, smem);
  ALISA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                        cudaSharedmemCarveoutMaxShared));
  prepared.fetch_or(bit, std::memory_order_acq_rel);
}

template <int kRows, int kDim>
void launch_f16(const AttentionParams& p, const Splits& splits, float* o_part, float* m_part,
                float* l_part, dim3 grid, cudaStream_t stream) {
  static std::atomic<uint64_t> prepared{0};
  auto kernel = decode_f16_kernel<kRows, kDim>;
  // The limit covers every head_dim this instantiation takes.
  prepare_kernel(kernel, f16_kernel_smem(kRows, kDim > 0 ? kDim : kAttentionMaxHeadDim), prepared);
  const size_t smem = f16_kernel_smem(kRows, static_cast<int>(p.head_dim));
  kernel<<<grid, kThreads, smem, stream>>>(p, static_cast<int>(splits.keys),
                                           static_cast<int>(splits.n), o_part, m_part, l_part);
  ALISA_CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch_merge(const AttentionParams& p, const Splits& splits, const float* o_part,
                  const float* m_part, const float* l_part, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(p.n_q * p.n_heads), static_cast<unsigned>(p.batch));
  const int n_splits = static_cast<int>(splits.n);
  // Programmatic dependent launch: scheduled while the split kernel drains; the merge kernel
  // waits for it to finish before reading the partials. Plain launch where that is refused.
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  config.attrs = attr;
  config.numAttrs = 1;
  if (cudaLaunchKernelEx(&config, decode_merge_kernel<T>, p, n_splits, o_part, m_part, l_part) !=
      cudaSuccess) {
    (void)cudaGetLastError();
    decode_merge_kernel<T><<<grid, kThreads, 0, stream>>>(p, n_splits, o_part, m_part, l_part);
  }
  ALISA_CUDA_CHECK_LAUNCH();
}

bool use_f16_kernel(const AttentionParams& p) {
  return p.dtype == DType::kF16 && p.head_dim % 8 == 0 && detail::attention_vec_ok(p);
}

template <typename T>
void launch(const AttentionParams& p, const Splits& splits, const WorkspaceLayout& w,
            void* workspace, cudaStream_t stream) {
  unsigned char* base = static_cast<unsigned char*>(workspace);
  float* o_part = reinterpret_cast<float*>(base + w.o);
  float* m_part = reinterpret_cast<float*>(base + w.m);
  float* l_part = reinterpret_cast<float*>(base + w.l);
  const dim3 grid(static_cast<unsigned>(splits.n),
                  static_cast<unsigned>(p.n_kv_heads * row_chunks(p)),
                  static_cast<unsigned>(p.batch));
  if constexpr (std::is_same_v<T, __half>) {
    if (use_f16_kernel(p)) {
      // Instantiated for head_dim 128, 64 and any other (0), and for 1, 2, 4 or 8 rows.
      const int64_t dim = p.head_dim == 128 || p.head_dim == 64 ? p.head_dim : 0;
      const int rows = pow2_rows(p.n_q * (p.n_heads / p.n_kv_heads), kMaxRows);
      dispatch_value<128, 64, 0>(dim, "attention_decode head_dim", [&](auto kDim) {
        dispatch_value<1, 2, 4, 8>(rows, "attention_decode rows", [&](auto kRows) {
          launch_f16<decltype(kRows)::value, decltype(kDim)::value>(p, splits, o_part, m_part,
                                                                    l_part, grid, stream);
        });
      });
      if (splits.n > 1) launch_merge<T>(p, splits, o_part, m_part, l_part, stream);
      return;
    }
  }
  const int d = static_cast<int>(p.head_dim);
  const size_t smem = sizeof(float) * (kMaxRows * d + kBlockK * (d + 1) + kBlockK * d +
                                       kMaxRows * kBlockK + 3 * kMaxRows) +
                      sizeof(int) * kBlockK;
  allow_dynamic_smem(decode_split_kernel<T>, smem);
  decode_split_kernel<T><<<grid, kThreads, smem, stream>>>(p, splits.keys / kBlockK, o_part, m_part,
                                                           l_part, detail::attention_vec_ok(p));
  ALISA_CUDA_CHECK_LAUNCH();
  launch_merge<T>(p, splits, o_part, m_part, l_part, stream);
}

}  // namespace

int64_t attention_decode_num_splits(const AttentionParams& p) {
  detail::validate_attention(p, "attention_decode");
  return plan_splits(p).n;
}

size_t attention_decode_workspace_bytes(const AttentionParams& p) {
  detail::validate_attention(p, "attention_decode");
  return workspace_layout(plan_splits(p).n, p.batch, p.n_q, p.n_heads, p.head_dim).bytes;
}

size_t attention_decode_max_workspace_bytes(int64_t batch, int64_t n_q, int64_t n_heads,
                                            int64_t head_dim) {
  ALISA_ASSERT(batch > 0 && n_q > 0 && n_heads > 0 && head_dim > 0,
               "attention_decode_max_workspace_bytes: empty shape");
  return workspace_layout(kMaxSplits, batch, n_q, n_heads, head_dim).bytes;
}

void attention_decode(const AttentionParams& p, void* workspace, size_t workspace_bytes,
                      cudaStream_t stream) {
  detail::validate_attention(p, "attention_decode");
  ALISA_ASSERT(p.head_dim <= kThreads, "attention_decode: head_dim beyond one thread per dim");
  ALISA_ASSERT(p.n_kv_heads * row_chunks(p) <= 65535, "attention_decode: n_q ", p.n_q,
               " too large for the decode kernel; use attention_prefill");
  ALISA_ASSERT(p.n_q * p.n_heads < (int64_t{1} << 31), "attention_decode: n_q * n_heads too large");
  const Splits splits = plan_splits(p);
  const WorkspaceLayout w = workspace_layout(splits.n, p.batch, p.n_q, p.n_heads, p.head_dim);
  ALISA_ASSERT(workspace != nullptr && aligned16(workspace), "attention_decode: workspace ",
               workspace, " null or not 16-byte aligned");
  ALISA_ASSERT(workspace_bytes >= w.bytes, "attention_decode: workspace of ", workspace_bytes,
               " bytes, needs ", w.bytes);
  dispatch_float_dtype(p.dtype, "attention_decode", [&](auto t) {
    launch<typename decltype(t)::type>(p, splits, w, workspace, stream);
  });
}

}  // namespace alisa::gpu
