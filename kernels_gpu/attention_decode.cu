#include "kernels_gpu/attention_decode.cuh"

#include "kernels_gpu/attention_decode_common.cuh"
#include "kernels_gpu/dispatch.cuh"
#include "kernels_gpu/online_softmax.cuh"

namespace alisa::gpu {
namespace {

using detail::attention_key_end;
using detail::ExpE;
using detail::kAttentionMaxHeadDim;
using detail::load_head_rows;
using detail::OnlineSoftmax;
using detail::SoftmaxStep;
using detail::decode::kMaxRows;
using detail::decode::kThreads;
using detail::decode::kWarps;
using detail::decode::launch_dependents;
using detail::decode::wait_for_primary;

constexpr int64_t kMaxSplits = 256;
// Blocks resident at once on an H100 (132 SMs, two blocks of the 16-bit kernel each). Shape-only on
// purpose: the split count, and so the result, does not depend on the device.
constexpr int64_t kResidentBlocks = 2 * 132;
constexpr int64_t kSplitGranule = 64;  // keys: a split's length is a multiple of this

struct Splits {
  int64_t n = 1;     // key chunks
  int64_t keys = 1;  // keys per chunk, a multiple of kSplitGranule
};

int64_t row_chunks(const AttentionParams& p) {
  return ceil_div(p.n_q * (p.n_heads / p.n_kv_heads), kMaxRows);
}

// Enough chunks that the blocks fill the GPU once (the 16-bit kernel streams at full bandwidth with
// one resident wave; more chunks only add partials to merge). One chunk, and no merge, when the
// batch alone fills it.
Splits plan_splits(const AttentionParams& p) {
  const int64_t keys = std::max<int64_t>(1, attention_key_end(p, 0, p.n_q));
  const int64_t base_blocks = p.batch * p.n_kv_heads * row_chunks(p);
  const int64_t want = std::clamp<int64_t>(kResidentBlocks / base_blocks, 1, kMaxSplits);
  Splits s;
  s.keys = ceil_div(ceil_div(keys, want), kSplitGranule) * kSplitGranule;
  s.n = ceil_div(keys, s.keys);  // <= want, and no empty chunk
  return s;
}

size_t align256(size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

// Workspace: o [splits][batch][n_q][n_heads][head_dim], then m and l [splits][batch][n_q][n_heads].
// m is the chunk's maximum score (natural-log units), l its sum of exp(score - m), o its
// unnormalised output.
struct WorkspaceLayout {
  size_t o = 0, m = 0, l = 0, bytes = 0;
};

WorkspaceLayout workspace_layout(int64_t n_splits, int64_t batch, int64_t n_q, int64_t n_heads,
                                 int64_t head_dim) {
  const size_t rows = static_cast<size_t>(n_splits * batch * n_q * n_heads);
  WorkspaceLayout w;
  w.m = align256(rows * static_cast<size_t>(head_dim) * sizeof(float));
  w.l = w.m + align256(rows * sizeof(float));
  w.bytes = w.l + align256(rows * sizeof(float));
  return w;
}

// ---- generic split kernel (f32, or f16/bf16 with odd head_dim / unaligned rows)
// ----------------------
constexpr int kBlockK = 32;  // keys per tile: one per lane in the softmax step
constexpr int kPairs = kMaxRows * kAttentionMaxHeadDim / kThreads;  // (row, dim) outputs/thread
static_assert(kBlockK == kWarpSize, "the softmax step maps one key per lane");
static_assert(kMaxRows * kAttentionMaxHeadDim % kThreads == 0, "pairs per thread");
static_assert(kSplitGranule % kBlockK == 0, "whole tiles per split");

// Same grid and rows as decode_16bit_kernel. Each thread keeps kPairs (row, dim) output
// accumulators in registers; K/V tiles are staged as float. Always writes partials.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    decode_split_kernel(AttentionParams p, int64_t tiles_per_split, float* o_part, float* m_part,
                        float* l_part, bool vec) {
  launch_dependents();
  extern __shared__ float4 smem_f4[];
  const int d = static_cast<int>(p.head_dim);
  const int ldk = d + 1;  // odd stride: one key per lane without bank conflicts
  float* q_s = reinterpret_cast<float*>(smem_f4);       // [kMaxRows][d]
  float* k_s = q_s + kMaxRows * d;                      // [kBlockK][d + 1]
  float* v_s = k_s + kBlockK * ldk;                     // [kBlockK][d]
  float* s_s = v_s + kBlockK * d;                       // [kMaxRows][kBlockK]
  float* m_s = s_s + kMaxRows * kBlockK;                // [kMaxRows]
  float* l_s = m_s + kMaxRows;                          // [kMaxRows]
  float* a_s = l_s + kMaxRows;                          // [kMaxRows] rescale of this tile
  int* vis_s = reinterpret_cast<int*>(a_s + kMaxRows);  // [kBlockK]

  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int group = static_cast<int>(p.n_heads / p.n_kv_heads);
  const int64_t n_rows_total = p.n_q * group;
  const int chunks = static_cast<int>(ceil_div(n_rows_total, kMaxRows));
  const int kvh = blockIdx.y / chunks;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y % chunks) * kMaxRows;
  const int n_rows = static_cast<int>(min(static_cast<int64_t>(kMaxRows), n_rows_total - row0));
  const int64_t b = blockIdx.z;
  const int64_t split = blockIdx.x;

  for (int item = threadIdx.x; item < kMaxRows * d; item += kThreads) {
    const int r = item / d;
    const int c = item - r * d;
    float value = 0.0f;
    if (r < n_rows) {
      const int64_t qi = (row0 + r) / group;
      const int64_t head = kvh * group + (row0 + r) % group;
      value = to_float(
          static_cast<const T*>(p.q)[b * p.q_batch_stride + qi * p.q_token_stride + head * d + c]);
    }
    q_s[item] = value;
  }
  if (threadIdx.x < kMaxRows) {
    m_s[threadIdx.x] = -INFINITY;
    l_s[threadIdx.x] = 0.0f;
  }
  float acc[kPairs];
#pragma unroll
  for (int i = 0; i < kPairs; ++i) acc[i] = 0.0f;

  const T* k = static_cast<const T*>(p.k) + b * p.kv_batch_stride + kvh * d;
  const T* v = static_cast<const T*>(p.v) + b * p.kv_batch_stride + kvh * d;
  const uint8_t* mask = p.key_mask != nullptr ? p.key_mask + b * p.mask_batch_stride : nullptr;
  const int64_t key_end = attention_key_end(p, 0, p.n_q);
  const int64_t begin = split * tiles_per_split * kBlockK;
  const int64_t end = min(key_end, begin + tiles_per_split * kBlockK);

  for (int64_t kt0 = begin; kt0 < end; kt0 += kBlockK) {
    __syncthreads();  // the previous tile is consumed (and the setup above is done)
    auto key_valid = [&](int row) {
      const int64_t j = kt0 + row;
      return j < end && (mask == nullptr || mask[j] != 0);
    };
    load_head_rows(k_s, ldk, k + kt0 * p.kv_token_stride, p.kv_token_stride, kBlockK, d, d, vec,
                   key_valid);
    load_head_rows(v_s, d, v + kt0 * p.kv_token_stride, p.kv_token_stride, kBlockK, d, d, vec,
                   key_valid);
    if (threadIdx.x < kBlockK) vis_s[threadIdx.x] = key_valid(threadIdx.x) ? 1 : 0;
    __syncthreads();
    for (int item = threadIdx.x; item < n_rows * kBlockK; item += kThreads) {
      const int r = item / kBlockK;
      const int jj = item - r * kBlockK;
      const int64_t qi = (row0 + r) / group;
      float s = -INFINITY;
      if (vis_s[jj] != 0 && kt0 + jj <= p.q_start + qi) {
        float dot = 0.0f;
        for (int c = 0; c < d; ++c) dot += q_s[r * d + c] * k_s[jj * ldk + c];
        s = dot * p.scale;
      }
      s_s[item] = s;
    }
    __syncthreads();
    for (int r = warp; r < n_rows; r += kWarps) {  // online softmax, one key per lane
      const float s = s_s[r * kBlockK + lane];
      OnlineSoftmax<ExpE> softmax{m_s[r], l_s[r]};
      const SoftmaxStep step = softmax.update<kWarpSize>(s);
      s_s[r * kBlockK + lane] = step.prob;
      __syncwarp();  // every lane has read m_s[r] / l_s[r]
      if (lane == 0) {
        m_s[r] = softmax.m;
        l_s[r] = softmax.l;
        a_s[r] = step.alpha;
      }
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kPairs; ++i) {
      const int pair = threadIdx.x + i * kThreads;
      const int r = pair / d;
      const int c = pair - r * d;
      if (r < n_rows) {
        float a = acc[i] * a_s[r];
#pragma unroll 8
        for (int jj = 0; jj < kBlockK; ++jj) a += s_s[r * kBlockK + jj] * v_s[jj * d + c];
        acc[i] = a;
      }
    }
  }
  __syncthreads();

  auto part_index = [&](int r) {
    const int64_t qi = (row0 + r) / group;
    const int64_t head = kvh * group + (row0 + r) % group;
    return ((split * p.batch + b) * p.n_q + qi) * p.n_heads + head;
  };
#pragma unroll
  for (int i = 0; i < kPairs; ++i) {
    const int pair = threadIdx.x + i * kThreads;
    const int r = pair / d;
    const int c = pair - r * d;
    if (r < n_rows) o_part[part_index(r) * d + c] = acc[i];
  }
  if (threadIdx.x < n_rows) {
    m_part[part_index(threadIdx.x)] = m_s[threadIdx.x];
    l_part[part_index(threadIdx.x)] = l_s[threadIdx.x];
  }
}

// ---- merge -------------------------------------------------------------------------------------
// Grid (n_q * n_heads, batch), one thread per dim: out = sum_s w_s o_s / sum_s w_s l_s with
// w_s = exp(m_s - max m). Chunks that saw no key have m = -inf, so w = 0; a row no chunk saw gets
// zeros. The threads share the m / l work over the splits, and the warps the o work.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    decode_merge_kernel(AttentionParams p, int n_splits, const float* o_part, const float* m_part,
                        const float* l_part) {
  constexpr int kDimsPerLane = kAttentionMaxHeadDim / kWarpSize;
  constexpr int kSplitsPerThread = kMaxSplits / kThreads;
  static_assert(kMaxSplits % kThreads == 0, "splits per thread");
  __shared__ float w_s[kMaxSplits];
  __shared__ float red_s[2][kWarps];
  __shared__ float o_s[kWarps][kAttentionMaxHeadDim];
  wait_for_primary();
  const int64_t qi = blockIdx.x / p.n_heads;
  const int64_t head = blockIdx.x % p.n_heads;
  const int64_t b = blockIdx.y;
  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int d = static_cast<int>(p.head_dim);
  const int64_t row = (b * p.n_q + qi) * p.n_heads + head;  // index of split 0
  const int64_t split_stride = p.batch * p.n_q * p.n_heads;

  // Thread t holds splits t and t + kThreads.
  float ms[kSplitsPerThread], ls[kSplitsPerThread];
#pragma unroll
  for (int k = 0; k < kSplitsPerThread; ++k) {
    const int s = threadIdx.x + k * kThreads;
    ms[k] = -INFINITY;
    ls[k] = 0.0f;
    if (s < n_splits) {
      ms[k] = m_part[row + s * split_stride];
      ls[k] = l_part[row + s * split_stride];
    }
  }
  float m = -INFINITY;
#pragma unroll
  for (int k = 0; k < kSplitsPerThread; ++k) m = fmaxf(m, ms[k]);
  m = warp_max(m);
  if (lane == 0) red_s[0][warp] = m;
  __syncthreads();
#pragma unroll
  for (int w = 0; w < kWarps; ++w) m = fmaxf(m, red_s[0][w]);

  float l = 0.0f;
#pragma unroll
  for (int k = 0; k < kSplitsPerThread; ++k) {
    const int s = threadIdx.x + k * kThreads;
    const float w = m == -INFINITY ? 0.0f : expf(ms[k] - m);  // 0 for a chunk that saw no key
    if (s < n_splits) w_s[s] = w;
    l += w * ls[k];
  }
  l = warp_sum(l);
  if (lane == 0) red_s[1][warp] = l;
  __syncthreads();  // w_s and red_s[1] are written
  l = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) l += red_s[1][w];

  // Warp w sums splits w, w + 4, ...; lane covers dims lane + 32 j (independent loads).
  float acc[kDimsPerLane] = {};
  for (int s = warp; s < n_splits; s += kWarps) {
    const float w = w_s[s];
    const float* src = o_part + (row + s * split_stride) * d;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j) {
      const int c = lane + kWarpSize * j;
      if (c < d) acc[j] = fmaf(w, src[c], acc[j]);
    }
  }
#pragma unroll
  for (int j = 0; j < kDimsPerLane; ++j) {
    const int c = lane + kWarpSize * j;
    if (c < d) o_s[warp][c] = acc[j];
  }
  __syncthreads();
  const int c = threadIdx.x;
  if (c >= d) return;
  float o = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) o += o_s[w][c];
  const float value = l > 0.0f ? o / l : 0.0f;
  T* out = static_cast<T*>(p.out);
  out[b * p.out_batch_stride + qi * p.out_token_stride + head * d + c] = from_float<T>(value);
}

// ---- launch ------------------------------------------------------------------------------------

template <typename T>
void launch_merge(const AttentionParams& p, const Splits& splits, const float* o_part,
                  const float* m_part, const float* l_part, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(p.n_q * p.n_heads), static_cast<unsigned>(p.batch));
  const int n_splits = static_cast<int>(splits.n);
  // Programmatic dependent launch: scheduled while the split kernel drains; the merge kernel
  // waits for it to finish before reading the partials. Plain launch where that is refused.
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  config.attrs = attr;
  config.numAttrs = 1;
  if (cudaLaunchKernelEx(&config, decode_merge_kernel<T>, p, n_splits, o_part, m_part, l_part) !=
      cudaSuccess) {
    (void)cudaGetLastError();
    decode_merge_kernel<T><<<grid, kThreads, 0, stream>>>(p, n_splits, o_part, m_part, l_part);
  }
  ALISA_CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch(const AttentionParams& p, const Splits& splits, const WorkspaceLayout& w,
            void* workspace, cudaStream_t stream) {
  unsigned char* base = static_cast<unsigned char*>(workspace);
  float* o_part = reinterpret_cast<float*>(base + w.o);
  float* m_part = reinterpret_cast<float*>(base + w.m);
  float* l_part = reinterpret_cast<float*>(base + w.l);
  const dim3 grid(static_cast<unsigned>(splits.n),
                  static_cast<unsigned>(p.n_kv_heads * row_chunks(p)),
                  static_cast<unsigned>(p.batch));
  if constexpr (kHalfWidth<T>) {
    if (detail::decode::applies_16bit(p)) {
      detail::decode::launch_16bit_split(p, static_cast<int>(splits.keys),
                                         static_cast<int>(splits.n), o_part, m_part, l_part, grid,
                                         stream);
      if (splits.n > 1) launch_merge<T>(p, splits, o_part, m_part, l_part, stream);
      return;
    }
  }
  const int d = static_cast<int>(p.head_dim);
  const size_t smem = sizeof(float) * (kMaxRows * d + kBlockK * (d + 1) + kBlockK * d +
                                       kMaxRows * kBlockK + 3 * kMaxRows) +
                      sizeof(int) * kBlockK;
  allow_dynamic_smem(decode_split_kernel<T>, smem);
  decode_split_kernel<T><<<grid, kThreads, smem, stream>>>(p, splits.keys / kBlockK, o_part, m_part,
                                                           l_part, detail::attention_vec_ok(p));
  ALISA_CUDA_CHECK_LAUNCH();
  launch_merge<T>(p, splits, o_part, m_part, l_part, stream);
}

}  // namespace

int64_t attention_decode_num_splits(const AttentionParams& p) {
  detail::validate_attention(p, "attention_decode");
  return plan_splits(p).n;
}

size_t attention_decode_workspace_bytes(const AttentionParams& p) {
  detail::validate_attention(p, "attention_decode");
  return workspace_layout(plan_splits(p).n, p.batch, p.n_q, p.n_heads, p.head_dim).bytes;
}

size_t attention_decode_max_workspace_bytes(int64_t batch, int64_t n_q, int64_t n_heads,
                                            int64_t head_dim) {
  ALISA_ASSERT(batch > 0 && n_q > 0 && n_heads > 0 && head_dim > 0,
               "attention_decode_max_workspace_bytes: empty shape");
  return workspace_layout(kMaxSplits, batch, n_q, n_heads, head_dim).bytes;
}

void attention_decode(const AttentionParams& p, void* workspace, size_t workspace_bytes,
                      cudaStream_t stream) {
  detail::validate_attention(p, "attention_decode");
  ALISA_ASSERT(p.head_dim <= kThreads, "attention_decode: head_dim beyond one thread per dim");
  ALISA_ASSERT(p.n_kv_heads * row_chunks(p) <= 65535, "attention_decode: n_q ", p.n_q,
               " too large for the decode kernel; use attention_prefill");
  ALISA_ASSERT(p.n_q * p.n_heads < (int64_t{1} << 31), "attention_decode: n_q * n_heads too large");
  const Splits splits = plan_splits(p);
  const WorkspaceLayout w = workspace_layout(splits.n, p.batch, p.n_q, p.n_heads, p.head_dim);
  ALISA_ASSERT(workspace != nullptr && aligned16(workspace), "attention_decode: workspace ",
               workspace, " null or not 16-byte aligned");
  ALISA_ASSERT(workspace_bytes >= w.bytes, "attention_decode: workspace of ", workspace_bytes,
               " bytes, needs ", w.bytes);
  dispatch_float_dtype(p.dtype, "attention_decode", [&](auto t) {
    launch<typename decltype(t)::type>(p, splits, w, workspace, stream);
  });
}

}  // namespace alisa::gpu
