#include "kernels_gpu/embedding.cuh"

#include "kernels_gpu/device_common.cuh"
#include "kernels_gpu/dispatch.cuh"

namespace alisa::gpu {
namespace {

// One block per token row (grid-stride over rows); 16-byte vectors when `vec`.
template <typename T>
__global__ void embedding_kernel(EmbeddingParams p, bool vec) {
  const T* table = static_cast<const T*>(p.table);
  const T* position_table = static_cast<const T*>(p.position_table);
  T* out = static_cast<T*>(p.out);
  for (int64_t row = blockIdx.x; row < p.n_tokens; row += gridDim.x) {
    T* dst = out + row * p.dim;
    const int64_t id = p.token_ids[row];
    bool bad = id < 0 || id >= p.vocab_size;
    const T* src = table + (bad ? 0 : id) * p.dim;
    const T* pos = nullptr;
    if (position_table != nullptr) {
      const int64_t pid = p.position_ids[row];
      bad = bad || pid < 0 || pid >= p.n_positions;
      pos = position_table + (bad ? 0 : pid) * p.dim;
    }
    if (bad) {
      for (int64_t d = threadIdx.x; d < p.dim; d += blockDim.x) dst[d] = from_float<T>(quiet_nan());
      continue;
    }
    if (vec) {
      constexpr int kN = kVec<T>;
      for (int64_t c = threadIdx.x; c < p.dim / kN; c += blockDim.x) {
        if (pos == nullptr) {  // plain copy: bit-exact
          reinterpret_cast<uint4*>(dst)[c] = reinterpret_cast<const uint4*>(src)[c];
          continue;
        }
        add_vec(src + c * kN, pos + c * kN, dst + c * kN);
      }
    } else {
      for (int64_t d = threadIdx.x; d < p.dim; d += blockDim.x) {
        float v = to_float(src[d]);
        if (pos != nullptr) v += to_float(pos[d]);
        dst[d] = from_float<T>(v);
      }
    }
  }
}

}  // namespace

void embedding(const EmbeddingParams& p, cudaStream_t stream) {
  assert_float_dtype(p.dtype, "embedding");
  ALISA_ASSERT(p.n_tokens > 0 && p.dim > 0 && p.vocab_size > 0, "embedding: empty shape");
  ALISA_ASSERT(p.token_ids != nullptr && p.table != nullptr && p.out != nullptr,
               "embedding: null pointer");
  ALISA_ASSERT((p.position_table == nullptr) == (p.position_ids == nullptr),
               "embedding: position_ids and position_table go together");
  ALISA_ASSERT(p.position_table == nullptr || p.n_positions > 0, "embedding: n_positions");
  const int n_vec = vec_elems(p.dtype);
  const bool vec = p.dim % n_vec == 0 && aligned16(p.table) && aligned16(p.out) &&
                   (p.position_table == nullptr || aligned16(p.position_table));
  const int threads = threads_for_row(vec ? p.dim / n_vec : p.dim, 256);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(p.n_tokens, 65535));
  dispatch_float_dtype(p.dtype, "embedding", [&](auto t) {
    embedding_kernel<typename decltype(t)::type><<<blocks, threads, 0, stream>>>(p, vec);
  });
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu
