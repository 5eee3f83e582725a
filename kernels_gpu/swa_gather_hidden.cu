#include "kernels_gpu/swa_gather_hidden.cuh"

#include "kernels_gpu/dispatch.cuh"
#include "kernels_gpu/swa_common.cuh"

namespace alisa::gpu {
namespace {

using detail::check_grid;

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

}  // namespace

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
  dispatch_word(bits, [&](auto w) {
    swa_gather_hidden_kernel<typename decltype(w)::type>
        <<<grid, kGatherThreads, 0, stream>>>(p, element);
  });
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu
