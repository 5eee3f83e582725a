#include "kernels_gpu/attention_prefill.cuh"

#include <mma.h>

#include <cmath>
#include <cstdint>

#include "kernels_gpu/attention_common.cuh"
#include "kernels_gpu/dispatch.cuh"
#include "kernels_gpu/online_softmax.cuh"

namespace alisa::gpu {
namespace {

using detail::attention_key_end;
using detail::ExpE;
using detail::load_head_rows;
using detail::OnlineSoftmax;
using detail::SoftmaxStep;

// ---- general path: f32, or f16/bf16 with any head_dim <= 128 (WMMA) ----------------------------

constexpr int kBlockQ = 64;  // queries per block: 4 warps x 16 rows, each warp owns its rows
constexpr int kBlockK = 32;  // keys per tile: one per lane in the softmax step
constexpr int kWarps = kBlockQ / 16;
constexpr int kThreads = kWarps * kWarpSize;
static_assert(kBlockK == kWarpSize, "the softmax step maps one key per lane");

// Shared-memory carve-out (byte offsets, 128-aligned) for a padded head dim `dp`.
struct Layout {
  int dp = 0;      // head_dim rounded up to 16 (the MMA k step)
  int ld_qkv = 0;  // elements per Q/K/V row
  int ld_s = 0;    // floats per score row
  int ld_p = 0;    // elements per probability row
  int ld_o = 0;    // floats per output-accumulator row
  size_t q = 0, k = 0, v = 0, s = 0, p = 0, o = 0, m = 0, l = 0, vis = 0, bytes = 0;
};

template <typename T>
Layout make_layout(int head_dim) {
  constexpr bool kHalf = kHalfWidth<T>;
  Layout L;
  L.dp = static_cast<int>(ceil_div(head_dim, 16) * 16);
  // WMMA wants leading dimensions of 16 bytes multiples; the +8 / +4 padding staggers banks.
  // The float path reads K rows per lane, so an odd stride is conflict-free there.
  L.ld_qkv = kHalf ? L.dp + 8 : L.dp + 1;
  L.ld_s = kBlockK + 4;
  L.ld_p = kHalf ? kBlockK + 8 : kBlockK + 4;
  L.ld_o = L.dp + 4;
  size_t at = 0;
  auto take = [&at](size_t bytes) {
    const size_t offset = at;
    at = (at + bytes + 127) / 128 * 128;
    return offset;
  };
  L.q = take(sizeof(T) * kBlockQ * L.ld_qkv);
  L.k = take(sizeof(T) * kBlockK * L.ld_qkv);
  L.v = take(sizeof(T) * kBlockK * L.ld_qkv);
  L.s = take(sizeof(float) * kBlockQ * L.ld_s);
  L.p = take(sizeof(T) * kBlockQ * L.ld_p);
  L.o = take(sizeof(float) * kBlockQ * L.ld_o);
  L.m = take(sizeof(float) * kBlockQ);
  L.l = take(sizeof(float) * kBlockQ);
  L.vis = take(sizeof(int) * kBlockK);
  L.bytes = at;
  return L;
}

// S[16 rows of this warp][kBlockK] = Q K^T (unscaled).
template <typename T>
__device__ __forceinline__ void warp_scores(const T* q_s, const T* k_s, float* s_s, const Layout& L,
                                            int r0) {
  if constexpr (kHalfWidth<T>) {
    using namespace nvcuda;
#pragma unroll
    for (int nt = 0; nt < kBlockK / 16; ++nt) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
      for (int kk = 0; kk < L.dp / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;  // K^T
        wmma::load_matrix_sync(a, q_s + r0 * L.ld_qkv + kk * 16, L.ld_qkv);
        wmma::load_matrix_sync(b, k_s + nt * 16 * L.ld_qkv + kk * 16, L.ld_qkv);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(s_s + r0 * L.ld_s + nt * 16, acc, L.ld_s, wmma::mem_row_major);
    }
  } else {
    const int lane = threadIdx.x % kWarpSize;  // this lane's key
    float acc[16];
#pragma unroll
    for (int rr = 0; rr < 16; ++rr) acc[rr] = 0.0f;
    for (int d = 0; d < L.dp; ++d) {
      const float kd = k_s[lane * L.ld_qkv + d];
#pragma unroll
      for (int rr = 0; rr < 16; ++rr) acc[rr] += q_s[(r0 + rr) * L.ld_qkv + d] * kd;
    }
#pragma unroll
    for (int rr = 0; rr < 16; ++rr) s_s[(r0 + rr) * L.ld_s + lane] = acc[rr];
  }
}

// O[16 rows of this warp][dp] += P V.
template <typename T>
__device__ __forceinline__ void warp_pv(const T* p_s, const T* v_s, float* o_s, const Layout& L,
                                        int r0) {
  if constexpr (kHalfWidth<T>) {
    using namespace nvcuda;
    for (int nt = 0; nt < L.dp / 16; ++nt) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, o_s + r0 * L.ld_o + nt * 16, L.ld_o, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < kBlockK / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b;
        wmma::load_matrix_sync(a, p_s + r0 * L.ld_p + kk * 16, L.ld_p);
        wmma::load_matrix_sync(b, v_s + kk * 16 * L.ld_qkv + nt * 16, L.ld_qkv);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(o_s + r0 * L.ld_o + nt * 16, acc, L.ld_o, wmma::mem_row_major);
    }
  } else {
    const int lane = threadIdx.x % kWarpSize;
    for (int rr = 0; rr < 16; ++rr) {
      const T* prow = p_s + (r0 + rr) * L.ld_p;
      for (int d = lane; d < L.dp; d += kWarpSize) {
        float acc = o_s[(r0 + rr) * L.ld_o + d];
#pragma unroll 8
        for (int j = 0; j < kBlockK; ++j) acc += prow[j] * v_s[j * L.ld_qkv + d];
        o_s[(r0 + rr) * L.ld_o + d] = acc;
      }
    }
  }
}

// Grid (query tiles, heads, batch). Per key tile: the block loads K/V (zeros where masked),
// then each warp, on its own 16 query rows only, computes scores, the online-softmax update
// (float32) and O += P V, so warps need no barrier between those steps.
template <typename T>
__global__ void __launch_bounds__(kThreads) prefill_kernel(AttentionParams p, Layout L, bool vec) {
  extern __shared__ __align__(128) float4 smem_f4[];  // WMMA tiles need 32-byte alignment
  unsigned char* smem = reinterpret_cast<unsigned char*>(smem_f4);
  T* q_s = reinterpret_cast<T*>(smem + L.q);
  T* k_s = reinterpret_cast<T*>(smem + L.k);
  T* v_s = reinterpret_cast<T*>(smem + L.v);
  float* s_s = reinterpret_cast<float*>(smem + L.s);
  T* p_s = reinterpret_cast<T*>(smem + L.p);
  float* o_s = reinterpret_cast<float*>(smem + L.o);
  float* m_s = reinterpret_cast<float*>(smem + L.m);
  float* l_s = reinterpret_cast<float*>(smem + L.l);
  int* vis_s = reinterpret_cast<int*>(smem + L.vis);

  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kBlockQ;
  const int h = blockIdx.y;
  const int64_t b = blockIdx.z;
  const int kvh = h / static_cast<int>(p.n_heads / p.n_kv_heads);
  const int d = static_cast<int>(p.head_dim);
  const int n_rows = static_cast<int>(min(static_cast<int64_t>(kBlockQ), p.n_q - q0));
  const T* q = static_cast<const T*>(p.q) + b * p.q_batch_stride + q0 * p.q_token_stride + h * d;
  const T* k = static_cast<const T*>(p.k) + b * p.kv_batch_stride + kvh * d;
  const T* v = static_cast<const T*>(p.v) + b * p.kv_batch_stride + kvh * d;
  const uint8_t* mask = p.key_mask != nullptr ? p.key_mask + b * p.mask_batch_stride : nullptr;
  const int64_t key_end = attention_key_end(p, q0, n_rows);

  load_head_rows(q_s, L.ld_qkv, q, p.q_token_stride, kBlockQ, d, L.dp, vec,
                 [&](int row) { return row < n_rows; });
  for (int e = threadIdx.x; e < kBlockQ * L.dp; e += kThreads) {
    o_s[(e / L.dp) * L.ld_o + e % L.dp] = 0.0f;
  }
  if (threadIdx.x < kBlockQ) {
    m_s[threadIdx.x] = -INFINITY;
    l_s[threadIdx.x] = 0.0f;
  }
  const int r0 = warp * 16;
  for (int64_t kt0 = 0; kt0 < key_end; kt0 += kBlockK) {
    __syncthreads();  // the previous tile is consumed (and the setup above is done)
    auto key_valid = [&](int row) {
      const int64_t j = kt0 + row;
      return j < key_end && (mask == nullptr || mask[j] != 0);
    };
    load_head_rows(k_s, L.ld_qkv, k + kt0 * p.kv_token_stride, p.kv_token_stride, kBlockK, d, L.dp,
                   vec, key_valid);
    load_head_rows(v_s, L.ld_qkv, v + kt0 * p.kv_token_stride, p.kv_token_stride, kBlockK, d, L.dp,
                   vec, key_valid);
    if (threadIdx.x < kBlockK) vis_s[threadIdx.x] = key_valid(threadIdx.x) ? 1 : 0;
    __syncthreads();
    if (r0 >= n_rows) continue;  // this warp's rows are all past the end

    warp_scores<T>(q_s, k_s, s_s, L, r0);
    __syncwarp();
    for (int rr = 0; rr < 16; ++rr) {  // online softmax, one key per lane
      const int r = r0 + rr;
      const int64_t j = kt0 + lane;
      const bool visible = r < n_rows && vis_s[lane] != 0 && j <= p.q_start + q0 + r;
      const float s = visible ? s_s[r * L.ld_s + lane] * p.scale : -INFINITY;
      OnlineSoftmax<ExpE> softmax{m_s[r], l_s[r]};
      const SoftmaxStep step = softmax.update<kWarpSize>(s);
      p_s[r * L.ld_p + lane] = static_cast<T>(step.prob);
      for (int c = lane; c < L.dp; c += kWarpSize) o_s[r * L.ld_o + c] *= step.alpha;
      __syncwarp();  // every lane has read m_s[r] / l_s[r]
      if (lane == 0) {
        m_s[r] = softmax.m;
        l_s[r] = softmax.l;
      }
    }
    __syncwarp();
    warp_pv<T>(p_s, v_s, o_s, L, r0);
  }
  __syncthreads();

  T* out = static_cast<T*>(p.out) + b * p.out_batch_stride + q0 * p.out_token_stride + h * d;
  for (int r = warp; r < n_rows; r += kWarps) {
    const float l = l_s[r];
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int c = lane; c < d; c += kWarpSize) {
      out[r * p.out_token_stride + c] = from_float<T>(o_s[r * L.ld_o + c] * inv);
    }
  }
}

template <typename T>
void launch(const AttentionParams& p, cudaStream_t stream) {
  const Layout L = make_layout<T>(static_cast<int>(p.head_dim));
  allow_dynamic_smem(prefill_kernel<T>, L.bytes);
  const dim3 grid(static_cast<unsigned>(ceil_div(p.n_q, kBlockQ)), static_cast<unsigned>(p.n_heads),
                  static_cast<unsigned>(p.batch));
  prefill_kernel<T><<<grid, kThreads, L.bytes, stream>>>(p, L, detail::attention_vec_ok(p));
  ALISA_CUDA_CHECK_LAUNCH();
}

// ---- 16-bit tensor-core path (f16 or bf16, head_dim 64 or 128) --------------------------------
// FlashAttention-2 style. One block of 8 warps per (query tile of 128, head, batch entry), heaviest
// query tiles first; each warp owns 16 query rows, keeps its Q fragments, S = Q K^T, the online
// softmax state and O in registers, and runs mma.sync m16n8k16 (f16 or bf16 in, f32 accumulation).
// K/V tiles of 64 keys are copied with cp.async into XOR-swizzled shared memory, two stages deep,
// and read with ldmatrix (.trans for V). Masked or uncached keys are zero-filled by the copy itself
// (no global read), their scores set to -inf and their probabilities to 0, so NaN there never
// reaches the math. Rows that see no key end with l = 0 and are written as zeros.

// ---- inline PTX wrappers ----
__device__ __forceinline__ uint32_t smem_u32(const void* ptr) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(ptr));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// d += a b for one m16n8k16 tile: a row-major 16x16 T, b column-major 16x8 T, d f32.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    static_assert(std::is_same_v<T, __nv_bfloat16>, "f16 or bf16");
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// 2^x; 2^-inf = +0.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ uint32_t warp_ballot(bool pred) {
  return __ballot_sync(kFullMask, pred);
}
// ---- end of inline PTX wrappers ----

namespace flash {

constexpr int kBlockM = 128;  // queries per block
constexpr int kBlockN = 64;   // keys per tile
constexpr int kWarps = kBlockM / 16;
constexpr int kThreads = kWarps * kWarpSize;

// Shared memory for head dim D: two stages of [K tile | V tile], each tile kBlockN rows of D
// halves; the Q tile is staged in stage 1 before the loop, the output tile in stage 0 after it.
// Then two validity words (one bit per key) per stage.
template <int D>
struct Smem {
  static constexpr int kRowBytes = D * 2;
  static constexpr int kChunks = D / 8;  // 16-byte chunks per row
  static constexpr int kTile = kBlockN * kRowBytes;
  static constexpr int kStage = 2 * kTile;
  static constexpr int kQ = kStage;  // Q staged in stage 1
  static constexpr int kVis = 2 * kStage;
  static constexpr int kBytes = kVis + 2 * 2 * static_cast<int>(sizeof(uint32_t));
  static_assert(kBlockM * kRowBytes <= kStage, "the Q / output tile must fit in one stage");
  static_assert(kBlockN == 2 * kWarpSize, "two validity words per tile");
  static_assert(kThreads % kChunks == 0 && kBlockN % (kThreads / kChunks) == 0 &&
                    (kBlockM * kChunks) % kThreads == 0 && (16 * kChunks) % kWarpSize == 0,
                "copy loops divide evenly");
};

// Byte offset of 16-byte chunk c of row r in a tile of D-half rows: chunks XOR-swizzled by the
// row so that the 8 rows an ldmatrix phase reads (one chunk column) hit 8 distinct bank groups.
template <int D>
__device__ __forceinline__ uint32_t swz(int r, int c) {
  return static_cast<uint32_t>(r * Smem<D>::kRowBytes + ((c ^ (r & 7)) << 4));
}

// D = 64 fits in 128 registers: two blocks per multiprocessor.
template <typename T, int D>
__global__ void __launch_bounds__(kThreads, D <= 64 ? 2 : 1)
    flash_prefill_kernel(AttentionParams p, int n_q_tiles, float scale_log2) {
  using L = Smem<D>;
  constexpr int kChunks = L::kChunks;
  constexpr int kKSteps = D / 16;       // k steps of Q K^T
  constexpr int kOTiles = D / 8;        // n tiles of O
  constexpr int kSTiles = kBlockN / 8;  // n tiles of S
  extern __shared__ __align__(128) float4 smem_f4[];
  unsigned char* smem = reinterpret_cast<unsigned char*>(smem_f4);
  const uint32_t sbase = smem_u32(smem);
  uint32_t* vis = reinterpret_cast<uint32_t*>(smem + L::kVis);

  const int tid = threadIdx.x;
  const int warp = tid / kWarpSize;
  const int lane = tid % kWarpSize;
  const int g = lane / 4;   // fragment row (and row + 8)
  const int qd = lane % 4;  // fragment column pair

  // Block -> (query tile, head, batch entry), the query tiles with the most keys first.
  const int64_t n_hb = p.n_heads * p.batch;
  const int64_t bid = blockIdx.x;
  const int q_tile = n_q_tiles - 1 - static_cast<int>(bid / n_hb);
  const int64_t hb = bid % n_hb;
  const int h = static_cast<int>(hb % p.n_heads);
  const int64_t b = hb / p.n_heads;
  const int kvh = h / static_cast<int>(p.n_heads / p.n_kv_heads);
  const int q0 = q_tile * kBlockM;
  const int n_rows = min(kBlockM, static_cast<int>(p.n_q) - q0);
  // Cache indices: the block's queries sit at [pos0, pos0 + n_rows); keys [0, key_end) matter.
  const int pos0 = static_cast<int>(p.q_start) + q0;
  const int key_end = min(pos0 + n_rows, static_cast<int>(p.n_kv_tokens));
  const int n_tiles = (key_end + kBlockN - 1) / kBlockN;

  const T* qg = static_cast<const T*>(p.q) + b * p.q_batch_stride +
                static_cast<int64_t>(q0) * p.q_token_stride + h * D;
  const T* kg = static_cast<const T*>(p.k) + b * p.kv_batch_stride + kvh * D;
  const T* vg = static_cast<const T*>(p.v) + b * p.kv_batch_stride + kvh * D;
  const uint8_t* mask = p.key_mask != nullptr ? p.key_mask + b * p.mask_batch_stride : nullptr;
  const int64_t kv_stride = p.kv_token_stride;

  // Nonzero when key j is cached, within the block's causal reach and not masked.
  auto key_flag = [&](int j) -> uint32_t {
    return j < key_end ? (mask != nullptr ? static_cast<uint32_t>(mask[j]) : 1u) : 0u;
  };

  // Each thread copies 16-byte chunk ld_c of rows ld_row + i * kLoadStride (i < kLoadIters) of a
  // key tile; warps 0 and 1 also gather the tile's validity bits. The mask bytes of a tile are
  // fetched one tile ahead and only compared when the tile is issued, so their latency hides
  // behind a tile's math.
  constexpr int kLoadStride = kThreads / kChunks;
  constexpr int kLoadIters = kBlockN / kLoadStride;
  const int ld_row = tid / kChunks;
  const int ld_c = tid % kChunks;
  struct Flags {
    uint32_t row[kLoadIters];
    uint32_t key;  // key warp * 32 + lane of the tile (warps 0 and 1)
  };
  auto fetch_flags = [&](int t, Flags& f) {
    const int kt0 = t * kBlockN;
#pragma unroll
    for (int i = 0; i < kLoadIters; ++i) f.row[i] = key_flag(kt0 + ld_row + i * kLoadStride);
    f.key = warp < 2 ? key_flag(kt0 + warp * kWarpSize + lane) : 0u;
  };

  // Issues the copies of key tile t into stage t % 2 and records its validity bits.
  auto load_tile = [&](int t, const Flags& f) {
    const int kt0 = t * kBlockN;
    const uint32_t kdst = sbase + (t & 1) * L::kStage;
    const uint32_t vdst = kdst + L::kTile;
#pragma unroll
    for (int i = 0; i < kLoadIters; ++i) {
      const int r = ld_row + i * kLoadStride;
      const bool ok = f.row[i] != 0u;
      const int64_t off = ok ? (kt0 + r) * kv_stride + ld_c * 8 : 0;
      detail::cp_async_16(kdst + swz<D>(r, ld_c), kg + off, ok);
      detail::cp_async_16(vdst + swz<D>(r, ld_c), vg + off, ok);
    }
    if (warp < 2) {
      const uint32_t bits = warp_ballot(f.key != 0u);
      if (lane == 0) vis[(t & 1) * 2 + warp] = bits;
    }
  };

  // Prologue: Q into stage 1 (rows past n_q zero-filled), key tile 0 into stage 0.
#pragma unroll
  for (int it = 0; it < kBlockM * kChunks / kThreads; ++it) {
    const int i = tid + it * kThreads;
    const int r = i / kChunks;
    const int c = i % kChunks;
    const bool ok = r < n_rows;
    const T* src = ok ? qg + r * p.q_token_stride + c * 8 : qg;
    detail::cp_async_16(sbase + L::kQ + swz<D>(r, c), src, ok);
  }
  Flags flags;
  fetch_flags(0, flags);
  load_tile(0, flags);
  detail::cp_async_commit();
  if (n_tiles > 1) fetch_flags(1, flags);
  detail::cp_async_wait<0>();
  __syncthreads();

  uint32_t qf[kKSteps][4];  // this warp's 16 x D slice of Q as A fragments
  {
    const int r = warp * 16 + (lane & 15);
#pragma unroll
    for (int kk = 0; kk < kKSteps; ++kk) {
      ldmatrix_x4(qf[kk], sbase + L::kQ + swz<D>(r, 2 * kk + (lane >> 4)));
    }
  }

  float o[kOTiles][4];
#pragma unroll
  for (int n = 0; n < kOTiles; ++n) {
#pragma unroll
    for (int e = 0; e < 4; ++e) o[n][e] = 0.0f;
  }
  float m_run[2] = {-INFINITY, -INFINITY};  // running max of raw scores, rows g and g + 8
  float l_run[2] = {0.0f, 0.0f};            // this thread's share of the row sums

  const int warp_first = pos0 + warp * 16;  // cache index of the warp's first row
  const int warp_last = warp_first + 15;
  const int row_pos[2] = {warp_first + g, warp_first + g + 8};
  const bool warp_active = warp * 16 < n_rows;

  // Per-lane ldmatrix coordinates (row in tile, chunk offset) for K (B of Q K^T) and V (B of P V).
  const int k_row = (lane & 7) + ((lane >> 4) << 3);
  const int k_chunk = (lane >> 3) & 1;
  const int v_row = (lane & 7) + (((lane >> 3) & 1) << 3);
  const int v_chunk = lane >> 4;

  for (int t = 0; t < n_tiles; ++t) {
    // Tile t has landed (this thread's copies; the barrier makes all of them visible) and every
    // warp is done with tile t - 1, whose stage (and, at t = 0, the staged Q) can be refilled.
    detail::cp_async_wait<0>();
    __syncthreads();
    if (t + 1 < n_tiles) load_tile(t + 1, flags);
    detail::cp_async_commit();
    if (t + 2 < n_tiles) fetch_flags(t + 2, flags);

    const int kt0 = t * kBlockN;
    if (!warp_active || kt0 > warp_last) continue;  // past every row's causal limit
    const uint32_t bits0 = vis[(t & 1) * 2];
    const uint32_t bits1 = vis[(t & 1) * 2 + 1];
    if ((bits0 | bits1) == 0u) continue;  // every key masked
    const uint32_t kbase = sbase + (t & 1) * L::kStage;
    const uint32_t vbase = kbase + L::kTile;

    // S = Q K^T (raw scores), 16 x 64 per warp.
    float s[kSTiles][4];
#pragma unroll
    for (int j = 0; j < kSTiles; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) s[j][e] = 0.0f;
    }
#pragma unroll
    for (int kk = 0; kk < kKSteps; ++kk) {
#pragma unroll
      for (int jp = 0; jp < kSTiles / 2; ++jp) {
        uint32_t kb[4];
        ldmatrix_x4(kb, kbase + swz<D>(16 * jp + k_row, 2 * kk + k_chunk));
        mma_16816<T>(s[2 * jp], qf[kk], kb[0], kb[1]);
        mma_16816<T>(s[2 * jp + 1], qf[kk], kb[2], kb[3]);
      }
    }

    // Causal limit and key mask, unless every key of the tile is visible to every row.
    const bool full = (bits0 & bits1) == 0xffffffffu && kt0 + kBlockN - 1 <= warp_first;
    if (!full) {
#pragma unroll
      for (int j = 0; j < kSTiles; ++j) {
        const uint32_t bits = j < kSTiles / 2 ? bits0 : bits1;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int kc = 8 * j + 2 * qd + (e & 1);  // key within the tile
          const bool visible = ((bits >> (kc & 31)) & 1u) != 0 && kt0 + kc <= row_pos[e >> 1];
          if (!visible) s[j][e] = -INFINITY;
        }
      }
    }

    // Online softmax (rows g and g + 8; a row's 64 scores live in one quad of lanes).
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < kSTiles; ++j) mx = fmaxf(mx, fmaxf(s[j][2 * hr], s[j][2 * hr + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(kFullMask, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(kFullMask, mx, 2));
      const float m_new = fmaxf(m_run[hr], mx);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // no visible key yet: all 0
      const float alpha = fast_exp2((m_run[hr] - m_use) * scale_log2);
      const float bias = -m_use * scale_log2;
      m_run[hr] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < kSTiles; ++j) {
#pragma unroll
        for (int e = 2 * hr; e < 2 * hr + 2; ++e) {
          s[j][e] = fast_exp2(fmaf(s[j][e], scale_log2, bias));
          sum += s[j][e];
        }
      }
      l_run[hr] = l_run[hr] * alpha + sum;
#pragma unroll
      for (int n = 0; n < kOTiles; ++n) {
        o[n][2 * hr] *= alpha;
        o[n][2 * hr + 1] *= alpha;
      }
    }

    // O += P V: the S accumulators of two n tiles form one A fragment of P.
#pragma unroll
    for (int ks = 0; ks < kBlockN / 16; ++ks) {
      uint32_t a[4];
      a[0] = pack_pair<T>(s[2 * ks][0], s[2 * ks][1]);
      a[1] = pack_pair<T>(s[2 * ks][2], s[2 * ks][3]);
      a[2] = pack_pair<T>(s[2 * ks + 1][0], s[2 * ks + 1][1]);
      a[3] = pack_pair<T>(s[2 * ks + 1][2], s[2 * ks + 1][3]);
#pragma unroll
      for (int np = 0; np < kOTiles / 2; ++np) {
        uint32_t vb[4];
        ldmatrix_x4_trans(vb, vbase + swz<D>(16 * ks + v_row, 2 * np + v_chunk));
        mma_16816<T>(o[2 * np], a, vb[0], vb[1]);
        mma_16816<T>(o[2 * np + 1], a, vb[2], vb[3]);
      }
    }
  }

  // Normalise; rows that saw no key have l = 0 and O = 0 and are written as zeros.
  float inv[2];
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    float l = l_run[hr];
    l += __shfl_xor_sync(kFullMask, l, 1);
    l += __shfl_xor_sync(kFullMask, l, 2);
    inv[hr] = l > 0.0f ? 1.0f / l : 0.0f;
  }
  detail::cp_async_wait<0>();  // nothing is in flight (the last tile issued no copy); kept for
                               // safety
  __syncthreads();             // every warp is done with the K/V stages: stage 0 takes the output
  const int r_lo = warp * 16 + g;
#pragma unroll
  for (int n = 0; n < kOTiles; ++n) {
    const uint32_t lo = pack_pair<T>(o[n][0] * inv[0], o[n][1] * inv[0]);
    const uint32_t hi = pack_pair<T>(o[n][2] * inv[1], o[n][3] * inv[1]);
    *reinterpret_cast<uint32_t*>(smem + swz<D>(r_lo, n) + 4 * qd) = lo;
    *reinterpret_cast<uint32_t*>(smem + swz<D>(r_lo + 8, n) + 4 * qd) = hi;
  }
  __syncwarp();
  T* og = static_cast<T*>(p.out) + b * p.out_batch_stride +
          static_cast<int64_t>(q0) * p.out_token_stride + h * D;
#pragma unroll
  for (int it = 0; it < 16 * kChunks / kWarpSize; ++it) {
    const int i = lane + it * kWarpSize;
    const int r = warp * 16 + i / kChunks;
    const int c = i % kChunks;
    if (r < n_rows) {
      *reinterpret_cast<uint4*>(og + r * p.out_token_stride + c * 8) =
          *reinterpret_cast<const uint4*>(smem + swz<D>(r, c));
    }
  }
}

// Whether the tensor-core path takes these params.
bool applies(const AttentionParams& p) {
  return (p.dtype == DType::kF16 || p.dtype == DType::kBF16) &&
         (p.head_dim == 64 || p.head_dim == 128) && p.scale > 0.0f && std::isfinite(p.scale) &&
         detail::attention_vec_ok(p) && aligned16(p.out) && p.out_token_stride % 8 == 0 &&
         p.out_batch_stride % 8 == 0;
}

template <typename T, int D>
void launch(const AttentionParams& p, cudaStream_t stream) {
  const int64_t n_q_tiles = ceil_div(p.n_q, kBlockM);
  const int64_t n_blocks = n_q_tiles * p.n_heads * p.batch;
  ALISA_ASSERT(n_blocks < (int64_t{1} << 31), "attention_prefill: grid too large");
  constexpr size_t kBytes = Smem<D>::kBytes;
  allow_dynamic_smem(flash_prefill_kernel<T, D>, kBytes);
  flash_prefill_kernel<T, D><<<static_cast<unsigned>(n_blocks), kThreads, kBytes, stream>>>(
      p, static_cast<int>(n_q_tiles), p.scale * detail::kLog2e);
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace flash

}  // namespace

void attention_prefill(const AttentionParams& p, cudaStream_t stream) {
  detail::validate_attention(p, "attention_prefill");
  ALISA_ASSERT(ceil_div(p.n_q, kBlockQ) < (int64_t{1} << 31), "attention_prefill: n_q too large");
  if (flash::applies(p)) {  // f16 or bf16, head_dim 64 or 128, 16-byte aligned rows
    dispatch_float_dtype(p.dtype, "attention_prefill", [&](auto t) {
      using T = typename decltype(t)::type;
      if constexpr (kHalfWidth<T>) {
        dispatch_value<128, 64>(p.head_dim, "attention_prefill head_dim", [&](auto kDim) {
          flash::launch<T, decltype(kDim)::value>(p, stream);
        });
      }
    });
  } else {
    dispatch_float_dtype(p.dtype, "attention_prefill",
                         [&](auto t) { launch<typename decltype(t)::type>(p, stream); });
  }
}

}  // namespace alisa::gpu
