#include "kernels_gpu/copy_rows.cuh"
#include "kernels_gpu/device_common.cuh"
#include "kernels_gpu/dispatch.cuh"

namespace alisa::gpu {
namespace {

// Words of type W: words_per_row per row, every address and pitch a multiple of sizeof(W).
template <typename W>
__global__ void copy_rows_kernel(const char* __restrict__ src, char* __restrict__ dst,
                                 int64_t words_per_row, int64_t n_words, size_t src_pitch,
                                 size_t dst_pitch) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n_words;
       i += stride) {
    const int64_t row = i / words_per_row, word = i % words_per_row;
    reinterpret_cast<W*>(dst + row * dst_pitch)[word] =
        reinterpret_cast<const W*>(src + row * src_pitch)[word];
  }
}

template <typename W>
void launch(const CopyRowsParams& p, cudaStream_t stream) {
  constexpr int kThreads = 256;
  const int64_t words_per_row = static_cast<int64_t>(p.row_bytes / sizeof(W));
  const int64_t n_words = words_per_row * p.n_rows;
  copy_rows_kernel<W><<<grid_for(n_words, kThreads), kThreads, 0, stream>>>(
      static_cast<const char*>(p.src), static_cast<char*>(p.dst), words_per_row, n_words,
      p.src_pitch, p.dst_pitch);
}

}  // namespace

void copy_rows(const CopyRowsParams& p, cudaStream_t stream) {
  ALISA_ASSERT(p.src != nullptr && p.dst != nullptr && p.n_rows >= 0,
               "copy_rows: null or negative");
  if (p.n_rows == 0 || p.row_bytes == 0) return;
  // The widest word that every address, row length and pitch is a multiple of.
  const uintptr_t all = reinterpret_cast<uintptr_t>(p.src) | reinterpret_cast<uintptr_t>(p.dst) |
                        p.row_bytes | (p.n_rows > 1 ? p.src_pitch | p.dst_pitch : 0);
  dispatch_word(all, [&](auto w) { launch<typename decltype(w)::type>(p, stream); });
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu
