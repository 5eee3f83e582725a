#include "kernels_cpu/quantize_cpu.h"

#include <algorithm>
#include <limits>

#include "kernels_cpu/parallel_rows.h"

namespace alisa {
namespace {

constexpr float kInt4Levels = 15.0f;
constexpr float kInt8Levels = 255.0f;

inline float to_float(float v) {
  return v;
}
inline float to_float(uint16_t h) {
  return half_bits_to_float(h);
}
// bfloat16 bits, a type of their own so that overloads tell them from float16's uint16_t.
struct Bf16 {
  uint16_t bits;
};
inline float to_float(Bf16 b) {
  return bf16_bits_to_float(b.bits);
}

template <typename T>
T from_float(float v);
template <>
float from_float<float>(float v) {
  return v;
}
template <>
uint16_t from_float<uint16_t>(float v) {
  return float_to_half_bits(v);
}
template <>
Bf16 from_float<Bf16>(float v) {
  return Bf16{float_to_bf16_bits(v)};
}

// Over the values that are not NaN (a comparison with NaN is false, so they are skipped).
template <typename T>
void min_max(const T* x, int64_t len, float& mn, float& mx) {
  mn = std::numeric_limits<float>::infinity();
  mx = -mn;
  for (int64_t i = 0; i < len; ++i) {
    const float v = to_float(x[i]);
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
}

// The stored f16 scale and offset of [mn, mx] cut into `levels` steps, and their float values.
struct Affine {
  uint16_t scale_bits = 0, min_bits = 0;
  float s = 0.0f, m = 0.0f;
};

Affine affine(float mn, float mx, float levels) {
  // -0 becomes +0: which zero a min / max keeps depends on the order (the GPU reduces in another
  // order), the stored bits must not.
  mn += 0.0f;
  mx += 0.0f;
  Affine a;
  a.scale_bits = float_to_half_bits((mx - mn) / levels);
  a.min_bits = float_to_half_bits(mn);
  a.s = half_bits_to_float(a.scale_bits);
  a.m = half_bits_to_float(a.min_bits);
  return a;
}

// clamp(rint((x - m) / s), 0, levels), NaN to 0; s != 0. Mirrored in kernels_gpu/quantize.cu.
inline uint32_t code(float x, float s, float m, float levels) {
  float t = (x - m) / s;
  t = t > 0.0f ? t : 0.0f;
  t = t < levels ? t : levels;
  // 2^23 + t keeps no fraction bits: rounds to nearest even like rint, without a libm call.
  return static_cast<uint32_t>((t + 0x1p23f) - 0x1p23f);
}

// fmaf(q, s, m): q * s is exact (at most 8 + 11 significant bits), so the sum rounds once either
// way; written as a product and a sum it vectorises without FMA hardware.
inline float dequant(uint32_t q, float s, float m) {
  return static_cast<float>(q) * s + m;
}

// Calls typed(float{}) for float32 data, typed(uint16_t{}) for float16, typed(Bf16{}) for
// bfloat16; `what` names the data in the message when it is none of them.
template <typename Typed>
void with_float_type(DType t, const char* what, const Typed& typed) {
  switch (t) {
    case DType::kF32:
      return typed(float{});
    case DType::kF16:
      return typed(uint16_t{});
    case DType::kBF16:
      return typed(Bf16{});
    default:
      throw InternalError(str(what, ": f32, f16 or bf16, not ", dtype_name(t)));
  }
}

template <typename T>
void quantize_int4_typed(const QuantizeInt4Params& p) {
  const T* x = static_cast<const T*>(p.x);
  const int64_t group = p.group;
  const int64_t n_groups = int4_n_groups(p.n, group);
  // Tasks take blocks of groups that start at even elements, so each owns whole packed bytes.
  const int64_t per_block = group % 2 == 0 ? 1 : 2;
  const int64_t n_blocks = (n_groups + per_block - 1) / per_block;
  parallel_rows(n_blocks, per_block * group, [&](const tbb::blocked_range<int64_t>& r) {
    for (int64_t b = r.begin(); b < r.end(); ++b) {
      const int64_t g0 = b * per_block, g1 = std::min(n_groups, g0 + per_block);
      float s[2] = {0.0f, 0.0f}, m[2] = {0.0f, 0.0f};
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t begin = g * group, end = std::min(p.n, begin + group);
        float mn, mx;
        min_max(x + begin, end - begin, mn, mx);
        const Affine a = affine(mn, mx, kInt4Levels);
        p.scale[g] = a.scale_bits;
        p.min[g] = a.min_bits;
        s[g - g0] = a.s;
        m[g - g0] = a.m;
      }
      const int64_t begin = g0 * group, split = begin + group, end = std::min(p.n, g1 * group);
      const auto code_at = [&](int64_t i) -> uint32_t {
        const int k = i < split ? 0 : 1;
        return s[k] == 0.0f ? 0u : code(to_float(x[i]), s[k], m[k], kInt4Levels);
      };
      for (int64_t i = begin; i < end; i += 2) {
        const uint32_t lo = code_at(i), hi = i + 1 < end ? code_at(i + 1) : 0u;
        p.packed[i / 2] = static_cast<uint8_t>(lo | (hi << 4));
      }
    }
  });
}

template <typename Out>
void dequantize_int4_typed(const DequantizeInt4Params& p) {
  Out* out = static_cast<Out*>(p.out);
  const int64_t group = p.group;
  parallel_rows(int4_n_groups(p.n, group), group, [&](const tbb::blocked_range<int64_t>& r) {
    for (int64_t g = r.begin(); g < r.end(); ++g) {
      const float s = half_bits_to_float(p.scale[g]), m = half_bits_to_float(p.min[g]);
      const int64_t end = std::min(p.n, (g + 1) * group);
      for (int64_t i = g * group; i < end; ++i) {
        const uint32_t q = (p.packed[i >> 1] >> ((i & 1) * 4)) & 15u;
        out[i] = from_float<Out>(dequant(q, s, m));
      }
    }
  });
}

template <typename T>
void quantize_int8_typed(const QuantizeInt8Params& p) {
  const T* x = static_cast<const T*>(p.x);
  const int64_t len = p.row_len, stride = p.x_row_stride == 0 ? len : p.x_row_stride;
  parallel_rows(p.n_rows, len, [&](const tbb::blocked_range<int64_t>& r) {
    for (int64_t row = r.begin(); row < r.end(); ++row) {
      const T* xr = x + row * stride;
      uint8_t* q = p.q + row * len;
      float mn, mx;
      min_max(xr, len, mn, mx);
      const Affine a = affine(mn, mx, kInt8Levels);
      p.scale[row] = a.scale_bits;
      p.zero[row] = a.min_bits;
      if (a.s == 0.0f) {
        std::fill(q, q + len, uint8_t{0});
        continue;
      }
      for (int64_t j = 0; j < len; ++j) {
        q[j] = static_cast<uint8_t>(code(to_float(xr[j]), a.s, a.m, kInt8Levels));
      }
    }
  });
}

template <typename Out>
void dequantize_int8_typed(const DequantizeInt8Params& p) {
  Out* out = static_cast<Out*>(p.out);
  const int64_t len = p.row_len, stride = p.out_row_stride == 0 ? len : p.out_row_stride;
  parallel_rows(p.n_rows, len, [&](const tbb::blocked_range<int64_t>& r) {
    for (int64_t row = r.begin(); row < r.end(); ++row) {
      const float s = half_bits_to_float(p.scale[row]), m = half_bits_to_float(p.zero[row]);
      const uint8_t* q = p.q + row * len;
      Out* o = out + row * stride;
      for (int64_t j = 0; j < len; ++j) o[j] = from_float<Out>(dequant(q[j], s, m));
    }
  });
}

}  // namespace

void quantize_int4_cpu(const QuantizeInt4Params& p) {
  ALISA_ASSERT(p.n >= 0 && p.group > 0, "quantize_int4 n=", p.n, " group=", p.group);
  if (p.n == 0) return;
  ALISA_ASSERT(p.x && p.packed && p.scale && p.min, "quantize_int4: null pointer");
  with_float_type(p.x_dtype, "quantize_int4 x",
                  [&](auto x) { quantize_int4_typed<decltype(x)>(p); });
}

void dequantize_int4_cpu(const DequantizeInt4Params& p) {
  ALISA_ASSERT(p.n >= 0 && p.group > 0, "dequantize_int4 n=", p.n, " group=", p.group);
  if (p.n == 0) return;
  ALISA_ASSERT(p.packed && p.scale && p.min && p.out, "dequantize_int4: null pointer");
  with_float_type(p.out_dtype, "dequantize_int4 out",
                  [&](auto out) { dequantize_int4_typed<decltype(out)>(p); });
}

void quantize_int8_cpu(const QuantizeInt8Params& p) {
  ALISA_ASSERT(
      p.n_rows >= 0 && p.row_len > 0 && (p.x_row_stride == 0 || p.x_row_stride >= p.row_len),
      "quantize_int8 rows=", p.n_rows, " len=", p.row_len, " stride=", p.x_row_stride);
  if (p.n_rows == 0) return;
  ALISA_ASSERT(p.x && p.q && p.scale && p.zero, "quantize_int8: null pointer");
  with_float_type(p.x_dtype, "quantize_int8 x",
                  [&](auto x) { quantize_int8_typed<decltype(x)>(p); });
}

void dequantize_int8_cpu(const DequantizeInt8Params& p) {
  ALISA_ASSERT(
      p.n_rows >= 0 && p.row_len > 0 && (p.out_row_stride == 0 || p.out_row_stride >= p.row_len),
      "dequantize_int8 rows=", p.n_rows, " len=", p.row_len, " stride=", p.out_row_stride);
  if (p.n_rows == 0) return;
  ALISA_ASSERT(p.q && p.scale && p.zero && p.out, "dequantize_int8: null pointer");
  with_float_type(p.out_dtype, "dequantize_int8 out",
                  [&](auto out) { dequantize_int8_typed<decltype(out)>(p); });
}

}  // namespace alisa
