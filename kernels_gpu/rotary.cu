#include "kernels_gpu/rotary.cuh"

#include "kernels_gpu/device_common.cuh"
#include "kernels_gpu/dispatch.cuh"

namespace alisa::gpu {
namespace {

// One block per token (grid-stride); threads walk the (head, pair) items of the token, pair i
// fastest so neighbouring threads touch neighbouring elements.
template <typename T>
__global__ void rotary_kernel(RotaryParams p, int64_t token_stride) {
  T* x = static_cast<T*>(p.x);
  const int half = static_cast<int>(p.rotary_dim / 2);
  const int head_dim = static_cast<int>(p.head_dim);
  const int items = static_cast<int>(p.n_heads) * half;
  for (int64_t t = blockIdx.x; t < p.n_tokens; t += gridDim.x) {
    const float pos = static_cast<float>(p.position_ids[t]);
    T* row = x + t * token_stride;
    for (int item = threadIdx.x; item < items; item += blockDim.x) {
      const int h = item / half;
      const int i = item - h * half;
      // Hugging Face's angle is a float32 product; sincosf (no fast math) reduces it exactly.
      const float angle = __fmul_rn(pos, p.inv_freq[i]);
      float s, c;
      sincosf(angle, &s, &c);
      T* head = row + h * head_dim;
      const float x1 = to_float(head[i]);
      const float x2 = to_float(head[i + half]);
      head[i] = from_float<T>(x1 * c - x2 * s);
      head[i + half] = from_float<T>(x2 * c + x1 * s);
    }
  }
}

}  // namespace

void rotary(const RotaryParams& p, cudaStream_t stream) {
  assert_float_dtype(p.dtype, "rotary");
  ALISA_ASSERT(p.n_tokens > 0 && p.n_heads > 0 && p.head_dim > 0, "rotary: empty shape");
  ALISA_ASSERT(p.rotary_dim > 0 && p.rotary_dim % 2 == 0 && p.rotary_dim <= p.head_dim,
               "rotary: rotary_dim ", p.rotary_dim, " must be even and in (0, head_dim]");
  ALISA_ASSERT(p.x != nullptr && p.position_ids != nullptr && p.inv_freq != nullptr,
               "rotary: null pointer");
  ALISA_ASSERT(p.n_heads * p.head_dim <= (int64_t{1} << 30), "rotary: token too wide");
  const int64_t token_stride = p.token_stride != 0 ? p.token_stride : p.n_heads * p.head_dim;
  ALISA_ASSERT(token_stride >= p.n_heads * p.head_dim, "rotary: token_stride ", token_stride,
               " overlaps heads");
  const int threads = threads_for_row(p.n_heads * (p.rotary_dim / 2), 256);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(p.n_tokens, 65535));
  dispatch_float_dtype(p.dtype, "rotary", [&](auto t) {
    rotary_kernel<typename decltype(t)::type><<<blocks, threads, 0, stream>>>(p, token_stride);
  });
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu
