#include "kernels_gpu/swa_select.cuh"

#include <cub/block/block_scan.cuh>

#include "kernels_gpu/device_common.cuh"

namespace alisa::gpu {
namespace {

// Grid: batch * groups blocks of kSelectThreads. The candidates' scores map to uint32 keys whose
// unsigned order is the float order (-0 = +0; NaN below everything). Four passes of 8 bits, each
// a shared histogram of the candidates that match the digits fixed so far, find the key T of the
// k-th best candidate and how many candidates equal to T are taken (the lowest indices). Then
// tiles of candidates, kSelectItems consecutive per thread, are compacted in index order: one
// block scan of (greater than T, equal to T) counts gives each winner its output slot.
constexpr int kSelectThreads = 256;
constexpr int kSelectItems = 4;
constexpr int kRadixBins = 256;

__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t u = __float_as_uint(f);
  const uint32_t magnitude = u & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return 0u;  // NaN
  if (magnitude == 0) return 0x80000000u;  // both zeros
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}

__global__ void __launch_bounds__(kSelectThreads) swa_select_kernel(SwaSelectParams p) {
  using Scan = cub::BlockScan<unsigned long long, kSelectThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ uint32_t hist[kRadixBins];
  __shared__ uint32_t found_digit, found_remaining;

  const int64_t row = blockIdx.x;  // b * groups + g
  const int64_t b = row / p.groups;
  const int tid = static_cast<int>(threadIdx.x);
  const SwaSequence seq = p.sequences[b];
  int32_t* out = p.selected + row * p.max_selected;
  const int total = static_cast<int>(min(static_cast<int64_t>(seq.total), p.max_selected));
  if (total <= 0) return;
  const int first = seq.first;
  const int n = seq.n;
  if (p.score == nullptr) {  // kRecent: the most recent tokens only
    for (int t = tid; t < total; t += kSelectThreads) out[t] = first + n - total + t;
    return;
  }
  const int local = max(0, min(seq.local, total));
  const int k = total - local;  // the global picks
  const int m = n - local;      // their candidates: [first, first + m)
  for (int t = tid; t < local; t += kSelectThreads) out[k + t] = first + m + t;
  if (k == 0) return;
  if (k >= m) {  // every candidate
    for (int t = tid; t < m; t += kSelectThreads) out[t] = first + t;
    return;
  }
  const float* score = p.score + row * p.capacity + first;

  uint32_t prefix = 0, mask = 0;
  uint32_t remaining = static_cast<uint32_t>(k);  // still to pick among keys matching prefix
  for (int pass = 0; pass < 4; ++pass) {
    const int shift = 24 - 8 * pass;
    for (int i = tid; i < kRadixBins; i += kSelectThreads) hist[i] = 0;
    __syncthreads();
    for (int i = tid; i < m; i += kSelectThreads) {
      const uint32_t key = order_key(__ldg(score + i));
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 0xffu], 1u);
    }
    __syncthreads();
    if (tid < kWarpSize) {  // the digit where the count from the top reaches `remaining`
      const int lane = tid;
      uint32_t c[8];
      uint32_t sum = 0;
#pragma unroll
      for (int q = 0; q < 8; ++q) {
        c[q] = hist[kRadixBins - 1 - 8 * lane - q];  // lane 0 holds the highest digits
        sum += c[q];
      }
      uint32_t inclusive = sum;
#pragma unroll
      for (int offset = 1; offset < kWarpSize; offset <<= 1) {
        const uint32_t other = __shfl_up_sync(kFullMask, inclusive, offset);
        if (lane >= offset) inclusive += other;
      }
      uint32_t before = inclusive - sum;
      if (before < remaining && remaining <= inclusive) {
#pragma unroll
        for (int q = 0; q < 8; ++q) {
          if (before + c[q] >= remaining) {
            found_digit = static_cast<uint32_t>(kRadixBins - 1 - 8 * lane - q);
            found_remaining = remaining - before;
            break;
          }
          before += c[q];
        }
      }
    }
    __syncthreads();
    prefix |= found_digit << shift;
    mask |= 0xffu << shift;
    remaining = found_remaining;
  }
  const uint32_t threshold = prefix;
  const uint32_t take_equal = remaining;  // keys equal to threshold taken, lowest index first

  // Ordered compaction. Counts pack as (greater << 32) + equal.
  constexpr int kTile = kSelectThreads * kSelectItems;
  unsigned long long done = 0;
  for (int base = 0; base < m; base += kTile) {
    const int i0 = base + tid * kSelectItems;
    uint32_t gt_bits = 0, eq_bits = 0;
#pragma unroll
    for (int q = 0; q < kSelectItems; ++q) {
      if (i0 + q < m) {
        const uint32_t key = order_key(__ldg(score + i0 + q));
        if (key > threshold) {
          gt_bits |= 1u << q;
        } else if (key == threshold) {
          eq_bits |= 1u << q;
        }
      }
    }
    const unsigned long long mine =
        (static_cast<unsigned long long>(__popc(gt_bits)) << 32) + __popc(eq_bits);
    unsigned long long before = 0, tile_total = 0;
    Scan(scan_storage).ExclusiveSum(mine, before, tile_total);
    before += done;
#pragma unroll
    for (int q = 0; q < kSelectItems; ++q) {
      const uint32_t gt_before = static_cast<uint32_t>(before >> 32);
      const uint32_t eq_before = static_cast<uint32_t>(before & 0xffffffffu);
      const bool gt = (gt_bits >> q) & 1u;
      const bool eq = (eq_bits >> q) & 1u;
      if (gt || (eq && eq_before < take_equal)) {
        out[gt_before + min(eq_before, take_equal)] = first + i0 + q;
      }
      before += (static_cast<unsigned long long>(gt) << 32) + (eq ? 1u : 0u);
    }
    done += tile_total;
    __syncthreads();  // scan_storage is reused
    const unsigned long long picked =
        (done >> 32) + min(static_cast<uint32_t>(done & 0xffffffffu), take_equal);
    if (picked >= static_cast<unsigned long long>(k)) break;
  }
}

}  // namespace

void swa_select(const SwaSelectParams& p, cudaStream_t stream) {
  ALISA_ASSERT(p.sequences != nullptr && p.selected != nullptr, "swa_select: null pointer");
  ALISA_ASSERT(p.groups > 0 && p.max_selected > 0 && p.max_selected < (int64_t{1} << 31),
               "swa_select: groups ", p.groups, ", max_selected ", p.max_selected);
  ALISA_ASSERT(p.score == nullptr || (p.capacity > 0 && p.capacity < (int64_t{1} << 31)),
               "swa_select: capacity ", p.capacity);
  ALISA_ASSERT(p.batch > 0 && p.batch * p.groups < (int64_t{1} << 31), "swa_select: batch ",
               p.batch, " x groups ", p.groups);
  swa_select_kernel<<<static_cast<unsigned>(p.batch * p.groups), kSelectThreads, 0, stream>>>(p);
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu
