// Shared by attention_prefill.cu and attention_decode.cu (included by those only): parameter
// validation and the global -> shared tile loader.
#pragma once

#include <type_traits>

#include "kernels_gpu/device_common.cuh"
#include "runtime/base/kernel_params.h"

namespace alisa::gpu::detail {

constexpr int kAttentionMaxHeadDim = 128;
constexpr float kLog2e = 1.4426950408889634f;  // softmax in base-2 units: exp2(x * log2(e))

// 16 bytes global -> shared, asynchronously (cp.async, L1 bypassed); zero-fills the destination,
// reading nothing, when !ok. Both addresses 16-byte aligned; dst a shared-window address.
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool ok) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(ok ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, bool ok) {
  cp_async_16(static_cast<uint32_t>(__cvta_generic_to_shared(dst)), src, ok);
}

__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}

// Waits until at most `kPending` of this thread's newest commit groups are still in flight. Other
// threads see the data after a barrier (__syncwarp among a warp's lanes, __syncthreads) that
// follows their wait.
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

inline void validate_attention(const AttentionParams& p, const char* name) {
  assert_float_dtype(p.dtype, name);
  ALISA_ASSERT(p.kv_dtype == p.dtype, name, ": kv dtype ", dtype_name(p.kv_dtype),
               " differs from q's ", dtype_name(p.dtype));
  ALISA_ASSERT(p.batch > 0 && p.n_q > 0 && p.n_kv_tokens > 0 && p.n_heads > 0 && p.n_kv_heads > 0 &&
                   p.head_dim > 0,
               name, ": empty shape");
  ALISA_ASSERT(p.head_dim <= kAttentionMaxHeadDim, name, ": head_dim ", p.head_dim, " > ",
               kAttentionMaxHeadDim);
  ALISA_ASSERT(p.n_heads % p.n_kv_heads == 0, name, ": n_heads ", p.n_heads,
               " is not a multiple of n_kv_heads ", p.n_kv_heads);
  ALISA_ASSERT(p.q != nullptr && p.k != nullptr && p.v != nullptr && p.out != nullptr, name,
               ": null pointer");
  ALISA_ASSERT(p.q_start >= 0, name, ": q_start ", p.q_start);
  ALISA_ASSERT(p.batch <= 65535 && p.n_heads <= 65535, name, ": batch or heads beyond grid limits");
  ALISA_ASSERT(p.n_kv_tokens < (int64_t{1} << 31) && p.q_start + p.n_q < (int64_t{1} << 31), name,
               ": sequence too long");
  // Strides are taken literally (as the reference does); catch the ones left unset.
  const int64_t q_row = p.n_heads * p.head_dim, kv_row = p.n_kv_heads * p.head_dim;
  ALISA_ASSERT(p.n_q == 1 || (p.q_token_stride >= q_row && p.out_token_stride >= q_row), name,
               ": q/out token strides ", p.q_token_stride, "/", p.out_token_stride, " < ", q_row);
  ALISA_ASSERT(p.n_kv_tokens == 1 || p.kv_token_stride >= kv_row, name, ": kv_token_stride ",
               p.kv_token_stride, " < ", kv_row);
  ALISA_ASSERT(
      p.batch == 1 || (p.q_batch_stride > 0 && p.kv_batch_stride > 0 && p.out_batch_stride > 0 &&
                       (p.key_mask == nullptr || p.mask_batch_stride > 0)),
      name, ": batch strides unset");
  ALISA_ASSERT(p.q_batch_stride >= 0 && p.kv_batch_stride >= 0 && p.out_batch_stride >= 0 &&
                   p.mask_batch_stride >= 0 && p.q_token_stride >= 0 && p.kv_token_stride >= 0 &&
                   p.out_token_stride >= 0,
               name, ": negative stride");
}

// Whether q, k and v rows can be read as 16-byte vectors.
inline bool attention_vec_ok(const AttentionParams& p) {
  const int64_t n = vec_elems(p.dtype);
  return p.head_dim % n == 0 && aligned16(p.q) && aligned16(p.k) && aligned16(p.v) &&
         p.q_batch_stride % n == 0 && p.q_token_stride % n == 0 && p.kv_batch_stride % n == 0 &&
         p.kv_token_stride % n == 0;
}

// Keys [0, key_end) can be visible to queries [q_begin, q_begin + n): causal and in the cache.
__host__ __device__ inline int64_t attention_key_end(const AttentionParams& p, int64_t q_begin,
                                                     int64_t n) {
  const int64_t end = p.q_start + q_begin + n;
  return end < p.n_kv_tokens ? end : p.n_kv_tokens;
}

// Copies rows [0, n_rows) of a head (src rows `src_stride` apart, head_dim `d` elements) into
// shared memory as S (rows `ld` apart, `dp` >= d columns). Rows where valid(row) is false and
// columns >= d are zero-filled, so padded or masked data (even NaN) never reaches the math.
// All threads of the block call it.
template <typename S, typename T, typename Valid>
__device__ __forceinline__ void load_head_rows(S* dst, int ld, const T* src, int64_t src_stride,
                                               int n_rows, int d, int dp, bool vec, Valid valid) {
  constexpr int kN = kVec<T>;
  if (vec) {  // d % kN == 0 and 16-byte aligned rows; dp % kN == 0
    const int chunks = dp / kN;
    for (int item = threadIdx.x; item < n_rows * chunks; item += blockDim.x) {
      const int row = item / chunks;
      const int c = item - row * chunks;
      alignas(16) T e[kN];
      if (c * kN < d && valid(row)) {
        *reinterpret_cast<uint4*>(e) =
            *reinterpret_cast<const uint4*>(src + row * src_stride + c * kN);
      } else {
        *reinterpret_cast<uint4*>(e) = make_uint4(0, 0, 0, 0);
      }
      S* out = dst + row * ld + c * kN;
      if (std::is_same_v<S, T> && ld % kN == 0) {  // then `out` is 16-byte aligned too
        *reinterpret_cast<uint4*>(out) = *reinterpret_cast<const uint4*>(e);
      } else {
#pragma unroll
        for (int i = 0; i < kN; ++i) out[i] = static_cast<S>(e[i]);
      }
    }
  } else {
    for (int item = threadIdx.x; item < n_rows * dp; item += blockDim.x) {
      const int row = item / dp;
      const int col = item - row * dp;
      const bool ok = col < d && valid(row);
      dst[row * ld + col] = ok ? static_cast<S>(src[row * src_stride + col]) : static_cast<S>(0.0f);
    }
  }
}

}  // namespace alisa::gpu::detail
