#include "kernels_gpu/sampling.cuh"

#include <cmath>

#include "kernels_gpu/device_common.cuh"

namespace alisa::gpu {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / kWarpSize;
constexpr float kFixedOne = 1099511627776.0f;    // 2^40: a probability of 1 in fixed point
constexpr int64_t kMaxVocab = int64_t{1} << 23;  // keeps vocab * 2^40 below 2^63

using u64 = unsigned long long;

struct Shared {
  u64 hist[256];
  u64 warp_u64[kWarps];
  float warp_f[kWarps];
  int64_t warp_i[kWarps];
  u64 selected_above;
  uint32_t selected_bin;
  int64_t found;
};

// Monotone map of floats to unsigned keys (a < b <=> key(a) < key(b)); -0 and +0 share a key.
__device__ __forceinline__ uint32_t order_key(float z) {
  const uint32_t bits = __float_as_uint(z == 0.0f ? 0.0f : z);
  return (bits & 0x80000000u) != 0 ? ~bits : (bits | 0x80000000u);
}

struct Row {
  const float* logits;
  int64_t vocab;
  float temperature;
  float max_z;  // max scaled logit

  __device__ float z(int64_t i) const {
    const float l = logits[i];
    return isnan(l) ? -INFINITY : l / temperature;  // IEEE division, as the reference
  }
  // Fixed-point probability (unnormalised) of an element whose key is >= floor_key, else 0.
  __device__ u64 weight(float zi, uint32_t floor_key) const {
    if (order_key(zi) < floor_key) return 0;
    return __float2ull_rn(expf(zi - max_z) * kFixedOne);
  }
};

__device__ u64 block_sum_u64(u64 v, Shared& sh) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  if (lane == 0) sh.warp_u64[warp] = v;
  __syncthreads();
  u64 total = 0;
  for (int w = 0; w < kWarps; ++w) total += sh.warp_u64[w];  // same order in every thread
  __syncthreads();
  return total;
}

// Block-wide (max value, lowest index among equal maxima); NaN never wins.
__device__ void block_argmax(float& v, int64_t& i, Shared& sh) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(kFullMask, v, o);
    const int64_t oi = __shfl_xor_sync(kFullMask, i, o);
    if (ov > v || (ov == v && oi < i)) {
      v = ov;
      i = oi;
    }
  }
  if (lane == 0) {
    sh.warp_f[warp] = v;
    sh.warp_i[warp] = i;
  }
  __syncthreads();
  v = sh.warp_f[0];
  i = sh.warp_i[0];
  for (int w = 1; w < kWarps; ++w) {
    if (sh.warp_f[w] > v || (sh.warp_f[w] == v && sh.warp_i[w] < i)) {
      v = sh.warp_f[w];
      i = sh.warp_i[w];
    }
  }
  __syncthreads();
}

// The largest key t with sum of weights over {key >= t} >= target, by radix selection, 8 bits a
// pass from the top. Weights: 1 per element (count_mode) or Row::weight. Requires
// 1 <= target <= total weight; then t is the key of an element of positive weight.
__device__ uint32_t radix_select(const Row& row, bool count_mode, uint32_t floor_key, u64 target,
                                 Shared& sh) {
  uint32_t prefix = 0, prefix_mask = 0;
  u64 above = 0;  // weight of the elements with keys above the current prefix range
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += kThreads) sh.hist[b] = 0;
    __syncthreads();
    // Neighbouring elements of a thread tend to share a bin: add runs, not single elements.
    uint32_t run_bin = 0;
    u64 run = 0;
    for (int64_t i = threadIdx.x; i < row.vocab; i += kThreads) {
      const float zi = row.z(i);
      const uint32_t key = order_key(zi);
      if ((key & prefix_mask) != prefix) continue;
      const u64 w = count_mode ? 1 : row.weight(zi, floor_key);
      if (w == 0) continue;
      const uint32_t bin = (key >> shift) & 255u;
      if (bin != run_bin && run != 0) {
        atomicAdd(&sh.hist[run_bin], run);
        run = 0;
      }
      run_bin = bin;
      run += w;
    }
    if (run != 0) atomicAdd(&sh.hist[run_bin], run);
    __syncthreads();
    if (threadIdx.x == 0) {
      u64 cum = above;
      uint32_t chosen = 0;
      for (int b = 255; b >= 0; --b) {
        if (cum + sh.hist[b] >= target) {
          chosen = static_cast<uint32_t>(b);
          break;
        }
        cum += sh.hist[b];
      }
      sh.selected_bin = chosen;
      sh.selected_above = cum;
    }
    __syncthreads();
    prefix |= sh.selected_bin << shift;
    prefix_mask |= 255u << shift;
    above = sh.selected_above;
  }
  return prefix;
}

__global__ void __launch_bounds__(kThreads) sample_kernel(SamplingParams p, int64_t stride) {
  __shared__ Shared sh;
  const int64_t r = blockIdx.x;
  Row row{p.logits + r * stride, p.vocab, p.temperature, 0.0f};
  const bool greedy = p.temperature == 0.0f;

  // Pass 1: argmax of the raw logits (greedy) or of the scaled ones (same order, and the max).
  float best = -INFINITY;
  int64_t best_i = INT64_MAX;
  for (int64_t i = threadIdx.x; i < p.vocab; i += kThreads) {
    const float v = greedy ? row.logits[i] : row.z(i);
    if (v > best || (v == best && i < best_i)) {
      best = v;
      best_i = i;
    }
  }
  block_argmax(best, best_i, sh);
  const int32_t fallback = static_cast<int32_t>(best_i < p.vocab ? best_i : 0);
  if (greedy || best == -INFINITY) {  // nothing to draw from: every logit -inf or NaN
    if (threadIdx.x == 0) p.out_tokens[r] = fallback;
    return;
  }
  row.max_z = best;

  uint32_t floor_key = 0;  // keep keys >= floor_key
  if (p.top_k > 0 && p.top_k < p.vocab) {
    floor_key = radix_select(row, true, 0, static_cast<u64>(p.top_k), sh);
  }
  if (p.top_p < 1.0f) {
    u64 local = 0;
    for (int64_t i = threadIdx.x; i < p.vocab; i += kThreads)
      local += row.weight(row.z(i), floor_key);
    const u64 mass = block_sum_u64(local, sh);
    const double want = ceil(static_cast<double>(p.top_p) * static_cast<double>(mass));
    const u64 target =
        want < 1.0 ? 1 : (want >= static_cast<double>(mass) ? mass : static_cast<u64>(want));
    const uint32_t cut = radix_select(row, false, floor_key, target, sh);
    floor_key = cut > floor_key ? cut : floor_key;
  }
  u64 local = 0;
  for (int64_t i = threadIdx.x; i < p.vocab; i += kThreads)
    local += row.weight(row.z(i), floor_key);
  const u64 kept = block_sum_u64(local, sh);
  // The first kept index whose inclusive cumulative weight exceeds u * kept.
  const double u = counter_uniform(p.rng_keys[r], p.step);
  u64 x = static_cast<u64>(floor(u * static_cast<double>(kept)));
  if (x >= kept) x = kept - 1;  // u < 1, but the product may round up
  if (threadIdx.x == 0) sh.found = -1;
  __syncthreads();
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  u64 base = 0;
  for (int64_t chunk = 0; chunk < p.vocab; chunk += kThreads) {
    const int64_t i = chunk + threadIdx.x;
    const u64 w = i < p.vocab ? row.weight(row.z(i), floor_key) : 0;
    u64 incl = w;
#pragma unroll
    for (int o = 1; o < kWarpSize; o <<= 1) {
      const u64 up = __shfl_up_sync(kFullMask, incl, o);
      if (lane >= o) incl += up;
    }
    if (lane == kWarpSize - 1) sh.warp_u64[warp] = incl;
    __syncthreads();
    u64 offset = 0, chunk_total = 0;
    for (int w2 = 0; w2 < kWarps; ++w2) {
      if (w2 < warp) offset += sh.warp_u64[w2];
      chunk_total += sh.warp_u64[w2];
    }
    const u64 prefix = base + offset + incl;
    if (w != 0 && prefix > x && prefix - w <= x) sh.found = i;  // exactly one thread
    __syncthreads();
    if (sh.found >= 0) break;
    base += chunk_total;
  }
  if (threadIdx.x == 0) p.out_tokens[r] = sh.found >= 0 ? static_cast<int32_t>(sh.found) : fallback;
}

}  // namespace

void sample(const SamplingParams& p, cudaStream_t stream) {
  ALISA_ASSERT(p.batch > 0 && p.vocab > 0, "sample: empty shape");
  ALISA_ASSERT(p.vocab < kMaxVocab, "sample: vocab ", p.vocab, " >= 2^23");
  ALISA_ASSERT(p.batch < (int64_t{1} << 31), "sample: batch too large");
  ALISA_ASSERT(p.logits != nullptr && p.out_tokens != nullptr, "sample: null pointer");
  ALISA_ASSERT(std::isfinite(p.temperature) && p.temperature >= 0.0f, "sample: temperature ",
               p.temperature);
  ALISA_ASSERT(p.temperature == 0.0f || p.rng_keys != nullptr, "sample: rng_keys needed");
  ALISA_ASSERT(p.top_k >= 0, "sample: top_k ", p.top_k);
  ALISA_ASSERT(!std::isnan(p.top_p), "sample: top_p is NaN");
  const int64_t stride = p.logits_row_stride != 0 ? p.logits_row_stride : p.vocab;
  ALISA_ASSERT(stride >= p.vocab, "sample: logits_row_stride ", stride, " < vocab ", p.vocab);
  sample_kernel<<<static_cast<unsigned>(p.batch), kThreads, 0, stream>>>(p, stride);
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu
