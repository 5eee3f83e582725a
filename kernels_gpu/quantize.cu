#include "kernels_gpu/device_common.cuh"
#include "kernels_gpu/dispatch.cuh"
#include "kernels_gpu/quantize.cuh"

namespace alisa::gpu {
namespace {

constexpr int kThreads = 256;
constexpr float kInt8Levels = 255.0f;  // as kernels_cpu/quantize_cpu.cpp

__device__ __forceinline__ float half_to_float(uint16_t bits) {
  return __half2float(__ushort_as_half(bits));
}

// float(b) for b < 2^23, exactly: b in the mantissa of 2^23, less 2^23 (an I2F is slower).
__device__ __forceinline__ float small_uint_to_float(uint32_t b) {
  return __fsub_rn(__uint_as_float(0x4b000000u | b), 8388608.0f);
}

// fmaf(q, s, m), as on the CPU (there q * s + m: the product is exact, so the same bits).
__device__ __forceinline__ float dequant(uint32_t q, float s, float m) {
  return __fmaf_rn(small_uint_to_float(q), s, m);
}

// Index of the group (or row) of value v: a shift when the divisor is a power of two.
struct Divider {
  int64_t divisor = 1;
  int shift = -1;
  __device__ __forceinline__ int64_t operator()(int64_t v) const {
    return shift >= 0 ? v >> shift : v / divisor;
  }
};

Divider make_divider(int64_t divisor) {
  Divider d{.divisor = divisor, .shift = -1};
  if ((divisor & (divisor - 1)) == 0) {
    d.shift = 0;
    while ((int64_t{1} << d.shift) < divisor) ++d.shift;
  }
  return d;
}

// Codes a warp loads at once: 16 bytes per lane.
constexpr int kTileBytes = 16 * kWarpSize;

// Dequantises the kVec<Out> codes of `kBits` bits in lo (then hi), code j at bit
// kBits * j, and stores them to the 16-byte aligned dst.
template <int kBits, typename Out>
__device__ __forceinline__ void store_piece(Out* dst, uint32_t lo, uint32_t hi, float s, float m) {
  constexpr int kN = kVec<Out>;
  constexpr int kPerWord = 32 / kBits;
  constexpr uint32_t kMask = (1u << kBits) - 1;
  float v[kN];
#pragma unroll
  for (int j = 0; j < kN; ++j) {
    const uint32_t word = j < kPerWord ? lo : hi;
    v[j] = dequant((word >> (kBits * (j % kPerWord))) & kMask, s, m);
  }
  if constexpr (kHalfWidth<Out>) {
    uint32_t h[kN / 2];  // two correctly rounded conversions per instruction (cvt.rn.*x2.f32)
#pragma unroll
    for (int j = 0; j < kN / 2; ++j) h[j] = pack_pair<Out>(v[2 * j], v[2 * j + 1]);
    *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(h);
  } else {
    *reinterpret_cast<float4*>(dst) = make_float4(v[0], v[1], v[2], v[3]);
  }
}

// Dequantises a warp's tile of codes, the values from index `first` of the flat array on. The
// tile passes through shared memory so that each store instruction of the warp writes 512
// contiguous bytes (a lane storing its own 16 loaded bytes' values would write 64 or 128 bytes
// apart from its neighbours: half the bandwidth). place(v, s, m, dst) gives the scale, offset
// and destination of the piece that starts at value v.
template <int kBits, typename Out, typename Place>
__device__ __forceinline__ void dequantize_tile(const uint4* codes, uint4* stage, int lane,
                                                int64_t first, const Place& place) {
  constexpr int kPieceBytes = kVec<Out> * kBits / 8;  // 2, 4 or 8
  stage[lane] = __ldg(codes + lane);
  __syncwarp();
#pragma unroll
  for (int r = 0; r < kTileBytes / kPieceBytes / kWarpSize; ++r) {
    const int k = r * kWarpSize + lane;
    uint32_t lo, hi = 0;
    if constexpr (kPieceBytes == 2) {
      lo = reinterpret_cast<const uint16_t*>(stage)[k];
    } else if constexpr (kPieceBytes == 4) {
      lo = reinterpret_cast<const uint32_t*>(stage)[k];
    } else {
      const uint2 w = reinterpret_cast<const uint2*>(stage)[k];
      lo = w.x;
      hi = w.y;
    }
    float s, m;
    Out* dst;
    place(first + int64_t{k} * kVec<Out>, s, m, dst);
    store_piece<kBits, Out>(dst, lo, hi, s, m);
  }
  __syncwarp();  // the next tile overwrites the stage
}

constexpr int kWarps = kThreads / kWarpSize;

// Warps over tiles of 1024 values (a piece never straddles groups: group % kVec == 0),
// then the grid over the scalar tail (everything, when unaligned).
template <typename Out>
__global__ void __launch_bounds__(kThreads)
    dequantize_int4_kernel(DequantizeInt4Params p, int64_t n_tiles, Divider group_of) {
  __shared__ uint4 stage[kWarps][kWarpSize];
  constexpr int64_t kTileValues = kTileBytes * 2;
  Out* out = static_cast<Out*>(p.out);
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const auto place = [&](int64_t v, float& s, float& m, Out*& dst) {
    const int64_t g = group_of(v);
    s = half_to_float(__ldg(p.scale + g));
    m = half_to_float(__ldg(p.min + g));
    dst = out + v;
  };
  const uint4* packed = reinterpret_cast<const uint4*>(p.packed);
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * kWarps + warp; t < n_tiles;
       t += static_cast<int64_t>(gridDim.x) * kWarps) {
    dequantize_tile<4, Out>(packed + t * kWarpSize, stage[warp], lane, t * kTileValues, place);
  }
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t e = n_tiles * kTileValues + first; e < p.n; e += stride) {
    const uint32_t q = (p.packed[e >> 1] >> ((e & 1) * 4)) & 15u;
    const int64_t g = e / p.group;
    out[e] = from_float<Out>(dequant(q, half_to_float(p.scale[g]), half_to_float(p.min[g])));
  }
}

// As dequantize_int4_kernel, tiles of 512 values of the dense q (row_len % kVec == 0,
// so a piece never straddles rows), written to rows stride_out apart.
template <typename Out>
__global__ void __launch_bounds__(kThreads)
    dequantize_int8_kernel(DequantizeInt8Params p, int64_t n_tiles, int64_t stride_out,
                           Divider row_of) {
  __shared__ uint4 stage[kWarps][kWarpSize];
  constexpr int64_t kTileValues = kTileBytes;
  Out* out = static_cast<Out*>(p.out);
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const auto place = [&](int64_t v, float& s, float& m, Out*& dst) {
    const int64_t row = row_of(v);
    s = half_to_float(__ldg(p.scale + row));
    m = half_to_float(__ldg(p.zero + row));
    dst = out + row * stride_out + (v - row * p.row_len);
  };
  const uint4* q = reinterpret_cast<const uint4*>(p.q);
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * kWarps + warp; t < n_tiles;
       t += static_cast<int64_t>(gridDim.x) * kWarps) {
    dequantize_tile<8, Out>(q + t * kWarpSize, stage[warp], lane, t * kTileValues, place);
  }
  const int64_t total = p.n_rows * p.row_len;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t e = n_tiles * kTileValues + first; e < total; e += stride) {
    const int64_t row = e / p.row_len;
    const float v = dequant(p.q[e], half_to_float(p.scale[row]), half_to_float(p.zero[row]));
    out[row * stride_out + (e - row * p.row_len)] = from_float<Out>(v);
  }
}

// One warp per row: min / max over the row (NaN skipped), then the codes. The arithmetic mirrors
// kernels_cpu/quantize_cpu.cpp operation for operation, with explicit rounding intrinsics so
// that nothing is contracted or approximated.
template <typename T>
__global__ void quantize_int8_kernel(QuantizeInt8Params p, int64_t stride_x) {
  const int64_t row =
      static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarpSize) + threadIdx.x / kWarpSize;
  if (row >= p.n_rows) return;  // whole warps leave together
  const int lane = threadIdx.x % kWarpSize;
  const T* x = static_cast<const T*>(p.x) + row * stride_x;
  float mn = __int_as_float(0x7f800000), mx = -mn;
  for (int64_t j = lane; j < p.row_len; j += kWarpSize) {
    const float v = to_float(x[j]);
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float other_mn = __shfl_xor_sync(kFullMask, mn, offset);
    const float other_mx = __shfl_xor_sync(kFullMask, mx, offset);
    mn = other_mn < mn ? other_mn : mn;
    mx = other_mx > mx ? other_mx : mx;
  }
  mn = __fadd_rn(mn, 0.0f);  // -0 -> +0, as on the CPU
  mx = __fadd_rn(mx, 0.0f);
  const __half scale = __float2half_rn(__fdiv_rn(__fsub_rn(mx, mn), kInt8Levels));
  const __half zero = __float2half_rn(mn);
  if (lane == 0) {
    p.scale[row] = __half_as_ushort(scale);
    p.zero[row] = __half_as_ushort(zero);
  }
  const float s = __half2float(scale), m = __half2float(zero);
  uint8_t* q = p.q + row * p.row_len;
  for (int64_t j = lane; j < p.row_len; j += kWarpSize) {
    uint32_t code = 0;
    if (s != 0.0f) {
      float t = __fdiv_rn(__fsub_rn(to_float(x[j]), m), s);
      t = t > 0.0f ? t : 0.0f;  // NaN -> 0
      t = t < kInt8Levels ? t : kInt8Levels;
      code = __float2uint_rn(t);  // round to nearest even
    }
    q[j] = static_cast<uint8_t>(code);
  }
}

// An int8 (de)quantisation's row stride (0: rows packed, row_len apart), checked with the shape.
int64_t checked_row_stride(const char* name, int64_t n_rows, int64_t row_len, int64_t row_stride) {
  const int64_t stride = row_stride == 0 ? row_len : row_stride;
  ALISA_ASSERT(n_rows >= 0 && row_len > 0 && stride >= row_len, name, " rows=", n_rows,
               " len=", row_len, " stride=", row_stride);
  return stride;
}

template <typename Out>
void launch_dequantize_int4(const DequantizeInt4Params& p, cudaStream_t stream) {
  const bool tiled = p.group % kVec<Out> == 0 && aligned16(p.packed) && aligned16(p.out);
  const int64_t n_tiles = tiled ? p.n / (2 * kTileBytes) : 0;
  const int64_t rest = p.n - n_tiles * 2 * kTileBytes;
  const unsigned blocks = grid_for(std::max(n_tiles * kWarpSize, rest), kThreads);
  dequantize_int4_kernel<Out><<<blocks, kThreads, 0, stream>>>(p, n_tiles, make_divider(p.group));
  ALISA_CUDA_CHECK_LAUNCH();
}

template <typename Out>
void launch_dequantize_int8(const DequantizeInt8Params& p, int64_t stride, cudaStream_t stream) {
  const bool tiled = p.row_len % kVec<Out> == 0 && aligned16(p.q) && aligned16(p.out) &&
                     (stride * static_cast<int64_t>(sizeof(Out))) % 16 == 0;
  const int64_t total = p.n_rows * p.row_len;
  const int64_t n_tiles = tiled ? total / kTileBytes : 0;
  const int64_t rest = total - n_tiles * kTileBytes;
  const unsigned blocks = grid_for(std::max(n_tiles * kWarpSize, rest), kThreads);
  dequantize_int8_kernel<Out>
      <<<blocks, kThreads, 0, stream>>>(p, n_tiles, stride, make_divider(p.row_len));
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace

void dequantize_int4_gpu(const DequantizeInt4Params& p, cudaStream_t stream) {
  ALISA_ASSERT(p.n >= 0 && p.group > 0, "dequantize_int4 n=", p.n, " group=", p.group);
  if (p.n == 0) return;
  ALISA_ASSERT(p.packed && p.scale && p.min && p.out, "dequantize_int4: null pointer");
  assert_float_dtype(p.out_dtype, "dequantize_int4 out");
  dispatch_float_dtype(p.out_dtype, "dequantize_int4 out", [&](auto t) {
    launch_dequantize_int4<typename decltype(t)::type>(p, stream);
  });
}

void dequantize_int8_gpu(const DequantizeInt8Params& p, cudaStream_t stream) {
  const int64_t stride =
      checked_row_stride("dequantize_int8", p.n_rows, p.row_len, p.out_row_stride);
  if (p.n_rows == 0) return;
  ALISA_ASSERT(p.q && p.scale && p.zero && p.out, "dequantize_int8: null pointer");
  assert_float_dtype(p.out_dtype, "dequantize_int8 out");
  dispatch_float_dtype(p.out_dtype, "dequantize_int8 out", [&](auto t) {
    launch_dequantize_int8<typename decltype(t)::type>(p, stride, stream);
  });
}

void quantize_int8_gpu(const QuantizeInt8Params& p, cudaStream_t stream) {
  const int64_t stride = checked_row_stride("quantize_int8", p.n_rows, p.row_len, p.x_row_stride);
  if (p.n_rows == 0) return;
  ALISA_ASSERT(p.x && p.q && p.scale && p.zero, "quantize_int8: null pointer");
  assert_float_dtype(p.x_dtype, "quantize_int8 x");
  const int64_t blocks = ceil_div(p.n_rows, kWarps);  // a warp per row
  ALISA_ASSERT(blocks <= 0x7fffffff, "quantize_int8: ", p.n_rows, " rows");
  dispatch_float_dtype(p.x_dtype, "quantize_int8 x", [&](auto t) {
    quantize_int8_kernel<typename decltype(t)::type>
        <<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p, stride);
  });
  ALISA_CUDA_CHECK_LAUNCH();
}

}  // namespace alisa::gpu
