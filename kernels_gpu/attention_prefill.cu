#include "kernels_gpu/attention_prefill.cuh"

#include <mma.h>

#include "kernels_gpu/attention_common.cuh"

namespace alisa::gpu {
namespace {

using detail::attention_key_end;
using detail::load_head_rows;

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
  constexpr bool kHalf = std::is_same_v<T, __half>;
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
  if constexpr (std::is_same_v<T, __half>) {
    using namespace nvcuda;
#pragma unroll
    for (int nt = 0; nt < kBlockK / 16; ++nt) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
      for (int kk = 0; kk < L.dp / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;  // K^T
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
  if constexpr (std::is_same_v<T, __half>) {
    using namespace nvcuda;
    for (int nt = 0; nt < L.dp / 16; ++nt) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, o_s + r0 * L.ld_o + nt * 16, L.ld_o, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < kBlockK / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b;
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
      const float m_old = m_s[r];
      const float l_old = l_s[r];
      const float m_new = fmaxf(m_old, warp_max(s));
      float prob = 0.0f;
      float alpha = 1.0f;
      if (m_new != -INFINITY) {  // uniform across the warp
        alpha = expf(m_old - m_new);
        prob = expf(s - m_new);
      }
      const float l_new = l_old * alpha + warp_sum(prob);
      p_s[r * L.ld_p + lane] = static_cast<T>(prob);
      for (int c = lane; c < L.dp; c += kWarpSize) o_s[r * L.ld_o + c] *= alpha;
      __syncwarp();  // every lane has read m_s[r] / l_s[r]
      if (lane == 0) {
        m_s[r] = m_new;
        l_s[r] = l_new;
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

}  // namespace

void attention_prefill(const AttentionParams& p, cudaStream_t stream) {
  detail::validate_attention(p, "attention_prefill");
  ALISA_ASSERT(ceil_div(p.n_q, kBlockQ) < (int64_t{1} << 31), "attention_prefill: n_q too large");
  if (p.dtype == DType::kF16) {
    launch<__half>(p, stream);
  } else {
    launch<float>(p, stream);
  }
}

}  // namespace alisa::gpu
