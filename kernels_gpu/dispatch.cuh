// Runtime values -> compile-time constants for kernel templates, in one place (as FlashInfer's
// DISPATCH_* macros, but as functions): each dispatcher calls `f` once with a tag whose type
// carries the constant, and throws alisa::InternalError for a value outside its listed set. The
// listed set is the set of instantiations. In `f` (a generic lambda):
//   dispatch_float_dtype(p.dtype, "op", [&](auto t) { using T = typename decltype(t)::type; ... });
//   dispatch_value<1, 2, 4, 8>(rows, "op rows", [&](auto r) { kernel<decltype(r)::value>... });
// Included by .cu files only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "runtime/base/common.h"
#include "runtime/base/dtype.h"

namespace alisa::gpu {

// A type as a value: `typename decltype(tag)::type` names it again.
template <typename T>
struct TypeTag {
  using type = T;
};

// f(TypeTag<__half>{}) for kF16, f(TypeTag<__nv_bfloat16>{}) for kBF16, f(TypeTag<float>{}) for
// kF32.
template <typename F>
void dispatch_float_dtype(DType dtype, const char* what, F&& f) {
  switch (dtype) {
    case DType::kF16:
      f(TypeTag<__half>{});
      return;
    case DType::kBF16:
      f(TypeTag<__nv_bfloat16>{});
      return;
    case DType::kF32:
      f(TypeTag<float>{});
      return;
    default:
      throw InternalError(str(what, ": no GPU kernel for dtype ", dtype_name(dtype)));
  }
}

// f(std::integral_constant<decltype(v), v>{}) for the first listed v equal to `value`.
template <auto... kValues, typename V, typename F>
void dispatch_value(V value, const char* what, F&& f) {
  const bool found =
      ((value == kValues && (f(std::integral_constant<decltype(kValues), kValues>{}), true)) ||
       ...);
  if (!found) {
    throw InternalError(str(what, ": no kernel instantiated for ", value, " (only for",
                            (str(" ", kValues) + ...), ")"));
  }
}

// f(std::true_type{}) or f(std::false_type{}).
template <typename F>
void dispatch_bool(bool value, F&& f) {
  if (value) {
    f(std::true_type{});
  } else {
    f(std::false_type{});
  }
}

// f(TypeTag<W>{}) for the widest word W of 16, 8, 4, 2 or 1 bytes whose size divides `bits` (the
// OR of every address, length and pitch a bitwise copy touches).
template <typename F>
void dispatch_word(uint64_t bits, F&& f) {
  if (bits % 16 == 0) {
    f(TypeTag<uint4>{});
  } else if (bits % 8 == 0) {
    f(TypeTag<uint2>{});
  } else if (bits % 4 == 0) {
    f(TypeTag<uint32_t>{});
  } else if (bits % 2 == 0) {
    f(TypeTag<uint16_t>{});
  } else {
    f(TypeTag<uint8_t>{});
  }
}

}  // namespace alisa::gpu
