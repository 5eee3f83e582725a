#include "kernels_gpu/attention_decode.cuh"

#include "kernels_gpu/attention_common.cuh"

namespace alisa::gpu {
namespace {

using detail::attention_key_end;
using detail::kAttentionMaxHeadDim;
using detail::load_head_rows;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kBlockK = 32;  // keys per tile: one per lane in the softmax step
constexpr int kMaxRows = 8;  // query rows (query x head of the group) per block
constexpr int kPairs = kMaxRows * kAttentionMaxHeadDim / kThreads;  // (row, dim) outputs/thread
constexpr int64_t kTargetBlocks = 4 * 132;  // a few waves of an H100's SMs; shape-only on purpose
constexpr int64_t kMinTilesPerSplit = 2;
constexpr int64_t kMaxSplits = 256;
static_assert(kBlockK == kWarpSize, "the softmax step maps one key per lane");
static_assert(kMaxRows * kAttentionMaxHeadDim % kThreads == 0, "pairs per thread");

struct Splits {
  int64_t n = 1;                // key chunks
  int64_t tiles_per_split = 1;  // kBlockK-key tiles per chunk
};

int64_t row_chunks(const AttentionParams& p) {
  return ceil_div(p.n_q * (p.n_heads / p.n_kv_heads), kMaxRows);
}

Splits plan_splits(const AttentionParams& p) {
  const int64_t tiles = std::max<int64_t>(1, ceil_div(attention_key_end(p, 0, p.n_q), kBlockK));
  const int64_t base_blocks = p.batch * p.n_kv_heads * row_chunks(p);
  int64_t want = std::clamp<int64_t>(ceil_div(kTargetBlocks, base_blocks), 1, kMaxSplits);
  want = std::min(want, std::max<int64_t>(1, tiles / kMinTilesPerSplit));
  Splits s;
  s.tiles_per_split = ceil_div(tiles, want);
  s.n = ceil_div(tiles, s.tiles_per_split);  // no empty chunk
  return s;
}

size_t align256(size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

// Workspace: o [splits][batch][n_q][n_heads][head_dim], then m and l [splits][batch][n_q][n_heads].
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

// Grid (splits, n_kv_heads * row chunks, batch). Rows of a block: query rows row0 .. row0 + 7 of
// this kv head's group, row = query index * group + head within the group. Each thread keeps
// kPairs (row, dim) output accumulators in registers; K/V tiles are staged as float.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    decode_split_kernel(AttentionParams p, int64_t tiles_per_split, float* o_part, float* m_part,
                        float* l_part, bool vec) {
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
      s_s[r * kBlockK + lane] = prob;
      __syncwarp();  // every lane has read m_s[r] / l_s[r]
      if (lane == 0) {
        m_s[r] = m_new;
        l_s[r] = l_new;
        a_s[r] = alpha;
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

// Grid (n_q * n_heads, batch), one thread per dim: out = sum_s w_s o_s / sum_s w_s l_s with
// w_s = exp(m_s - max m). Chunks that saw no key have m = -inf, so w = 0.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    decode_merge_kernel(AttentionParams p, int64_t n_splits, const float* o_part,
                        const float* m_part, const float* l_part) {
  const int64_t qi = blockIdx.x / p.n_heads;
  const int64_t head = blockIdx.x % p.n_heads;
  const int64_t b = blockIdx.y;
  const int c = threadIdx.x;
  const int d = static_cast<int>(p.head_dim);
  if (c >= d) return;
  auto index = [&](int64_t s) { return ((s * p.batch + b) * p.n_q + qi) * p.n_heads + head; };
  float m = -INFINITY;
  for (int64_t s = 0; s < n_splits; ++s) m = fmaxf(m, m_part[index(s)]);
  float value = 0.0f;
  if (m != -INFINITY) {
    float l = 0.0f;
    float o = 0.0f;
    for (int64_t s = 0; s < n_splits; ++s) {
      const int64_t i = index(s);
      const float w = expf(m_part[i] - m);
      l += w * l_part[i];
      o += w * o_part[i * d + c];
    }
    value = o / l;
  }
  T* out = static_cast<T*>(p.out);
  out[b * p.out_batch_stride + qi * p.out_token_stride + head * d + c] = from_float<T>(value);
}

template <typename T>
void launch(const AttentionParams& p, const Splits& splits, const WorkspaceLayout& w,
            void* workspace, cudaStream_t stream) {
  unsigned char* base = static_cast<unsigned char*>(workspace);
  float* o_part = reinterpret_cast<float*>(base + w.o);
  float* m_part = reinterpret_cast<float*>(base + w.m);
  float* l_part = reinterpret_cast<float*>(base + w.l);
  const int d = static_cast<int>(p.head_dim);
  const size_t smem = sizeof(float) * (kMaxRows * d + kBlockK * (d + 1) + kBlockK * d +
                                       kMaxRows * kBlockK + 3 * kMaxRows) +
                      sizeof(int) * kBlockK;
  allow_dynamic_smem(decode_split_kernel<T>, smem);
  const dim3 grid(static_cast<unsigned>(splits.n),
                  static_cast<unsigned>(p.n_kv_heads * row_chunks(p)),
                  static_cast<unsigned>(p.batch));
  decode_split_kernel<T><<<grid, kThreads, smem, stream>>>(
      p, splits.tiles_per_split, o_part, m_part, l_part, detail::attention_vec_ok(p));
  ALISA_CUDA_CHECK_LAUNCH();
  const dim3 merge_grid(static_cast<unsigned>(p.n_q * p.n_heads), static_cast<unsigned>(p.batch));
  decode_merge_kernel<T><<<merge_grid, kThreads, 0, stream>>>(p, splits.n, o_part, m_part, l_part);
  ALISA_CUDA_CHECK_LAUNCH();
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
  if (p.dtype == DType::kF16) {
    launch<__half>(p, splits, w, workspace, stream);
  } else {
    launch<float>(p, splits, w, workspace, stream);
  }
}

}  // namespace alisa::gpu
