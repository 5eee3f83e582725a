#include "kernels_gpu/swa_update_score.cuh"

#include "kernels_gpu/device_common.cuh"

namespace alisa::gpu {
namespace {

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

}  // namespace

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

}  // namespace alisa::gpu
