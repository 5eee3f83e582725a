// attention_decode's split kernel for the 16-bit floats (f16, bf16) with head_dim % 8 == 0 and
// 16-byte aligned rows (see attention_decode.cuh); the other cases and the merge are in
// attention_decode.cu.
#include <atomic>

#include "kernels_gpu/attention_decode_common.cuh"
#include "kernels_gpu/dispatch.cuh"
#include "kernels_gpu/online_softmax.cuh"

namespace alisa::gpu::detail::decode {
namespace {

constexpr float kLn2 = 0.6931471805599453f;

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

// ---- 16-bit split kernel -----------------------------------------------------------------------
// Grid (splits, n_kv_heads * row chunks, batch); block: one key chunk of one kv head for up to
// kMaxRows query rows of its group (row = query index * group + head within the group; kRows is
// the row count rounded up to a power of two). Needs head_dim % 8 == 0 and 16-byte aligned rows.
//
// Each of the 4 warps streams its own 16-key tiles of the chunk (warp w takes tiles w, w + 4, ...)
// with cp.async into a private 3-stage ring of K and V (in T, rows padded to an odd number of
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

// T is 2 bytes wide whichever 16-bit float it is.
size_t kernel_16bit_smem(int rows, int head_dim) {
  return 2 * kWarps * kStages * 2 * kWarpKeys * padded_chunks(head_dim) * 8 +
         sizeof(float) * (rows * head_dim + kWarps * kWarpKeys * rows);
}

template <typename T, int kRows, int kDim>
__global__ void __launch_bounds__(kThreads, 2)
    decode_16bit_kernel(AttentionParams p, int keys_per_split, int n_splits, float* o_part,
                        float* m_part, float* l_part) {
  static_assert(kRows == 1 || kRows == 2 || kRows == 4 || kRows == 8, "rows per block");
  static_assert(kDim % 16 == 0 && kDim <= kAttentionMaxHeadDim, "an even number of chunks");
  static_assert(kHalfWidth<T>, "a 16-bit float");
  launch_dependents();
  extern __shared__ float4 smem_f4[];
  const int d = kDim > 0 ? kDim : static_cast<int>(p.head_dim);
  const int n_chunks = d / 8;
  const int ldh = padded_chunks(d) * 8;  // K/V row stride in halves
  const int warp_halves = kStages * 2 * kWarpKeys * ldh;
  T* kv_s = reinterpret_cast<T*>(smem_f4);  // [warp][stage][K|V][key][ldh]
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

  const T* k = static_cast<const T*>(p.k) + b * p.kv_batch_stride + static_cast<int64_t>(kvh) * d;
  const T* v = static_cast<const T*>(p.v) + b * p.kv_batch_stride + static_cast<int64_t>(kvh) * d;
  const uint8_t* mask = p.key_mask != nullptr ? p.key_mask + b * p.mask_batch_stride : nullptr;
  const int key_end = static_cast<int>(attention_key_end(p, 0, p.n_q));
  const int begin = split * keys_per_split;
  const int end = min(key_end, begin + keys_per_split);
  const int block_tiles = (end - begin + kWarpKeys - 1) / kWarpKeys;
  const int n_tiles = block_tiles > warp ? (block_tiles - warp + kWarps - 1) / kWarps : 0;
  T* ring = kv_s + warp * warp_halves;
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
      T* ks = ring + stage * 2 * kWarpKeys * ldh;
      T* vs = ks + kWarpKeys * ldh;
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
  T q_h[kQPerThread];
#pragma unroll
  for (int i = 0; i < kQPerThread; ++i) {
    const int item = threadIdx.x + i * kThreads;
    const int r = item / d;
    q_h[i] = from_float<T>(0.0f);
    if (item < kRows * d && r < n_rows) {
      const int c = item - r * d;
      const int qi = (row0 + r) / group;
      const int head = kvh * group + (row0 + r) % group;
      q_h[i] = static_cast<const T*>(
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
    if (item < kRows * d) q_s[item] = to_float(q_h[i]) * q_scale;
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

    const T* ks = ring + stage * 2 * kWarpKeys * ldh;
    const T* vs = ks + kWarpKeys * ldh;
    stage = stage + 1 == kStages ? 0 : stage + 1;

    // Scores (base-2 logits) of key jj for every row, over this lane's half of the chunks.
    float dot[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) dot[r] = 0.0f;
    const T* krow = ks + jj * ldh;
#pragma unroll
    for (int c0 = 0; c0 < (kDim > 0 ? kDim / 8 : kAttentionMaxHeadDim / 8); c0 += 2) {
      const int c = c0 + h;
      if (kDim == 0 && c >= n_chunks) break;
      float kf[8];
      pairs_to_float<T>(*reinterpret_cast<const uint4*>(krow + c * 8), kf);
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
        pairs_to_float<T>(*reinterpret_cast<const uint2*>(vs + j * ldh + lane * 4), vf);
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
      static_cast<T*>(p.out)[b * p.out_batch_stride + qi * p.out_token_stride +
                             static_cast<int64_t>(head) * d + c] =
          from_float<T>(sum > 0.0f ? o / sum : 0.0f);
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

template <typename T, int kRows, int kDim>
void launch_16bit(const AttentionParams& p, int keys_per_split, int n_splits, float* o_part,
                  float* m_part, float* l_part, dim3 grid, cudaStream_t stream) {
  static std::atomic<uint64_t> prepared{0};
  auto kernel = decode_16bit_kernel<T, kRows, kDim>;
  // The limit covers every head_dim this instantiation takes.
  prepare_kernel(kernel, kernel_16bit_smem(kRows, kDim > 0 ? kDim : kAttentionMaxHeadDim),
                 prepared);
  const size_t smem = kernel_16bit_smem(kRows, static_cast<int>(p.head_dim));
  kernel<<<grid, kThreads, smem, stream>>>(p, keys_per_split, n_splits, o_part, m_part, l_part);
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace

bool applies_16bit(const AttentionParams& p) {
  return (p.dtype == DType::kF16 || p.dtype == DType::kBF16) && p.head_dim % 8 == 0 &&
         attention_vec_ok(p);
}

void launch_16bit_split(const AttentionParams& p, int keys_per_split, int n_splits, float* o_part,
                        float* m_part, float* l_part, dim3 grid, cudaStream_t stream) {
  // Instantiated for head_dim 128, 64 and any other (0), and for 1, 2, 4 or 8 rows.
  const int64_t dim = p.head_dim == 128 || p.head_dim == 64 ? p.head_dim : 0;
  const int rows = pow2_rows(p.n_q * (p.n_heads / p.n_kv_heads), kMaxRows);
  dispatch_float_dtype(p.dtype, "attention_decode", [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (kHalfWidth<T>) {
      dispatch_value<128, 64, 0>(dim, "attention_decode head_dim", [&](auto kDim) {
        dispatch_value<1, 2, 4, 8>(rows, "attention_decode rows", [&](auto kRows) {
          launch_16bit<T, decltype(kRows)::value, decltype(kDim)::value>(
              p, keys_per_split, n_splits, o_part, m_part, l_part, grid, stream);
        });
      });
    } else {
      throw InternalError("attention_decode: the 16-bit split kernel takes f16 or bf16");
    }
  });
}

}  // namespace alisa::gpu::detail::decode
