// Internal to attention_cpu: the 16-bit-KV (float16 or bfloat16) attention tile, one build per
// instruction set.
#pragma once

#include <cstdint>

namespace alisa::attention_detail {

constexpr int kMaxTileRows = 4;

// Up to kMaxTileRows (query, head) rows that share one KV head, attended together so each K and V
// row read from memory (16-bit, converted in registers) serves all of them.
struct HalfTile {
  int n = 0;                      // rows, 1..kMaxTileRows
  const float* q[kMaxTileRows];   // each [head_dim]
  int64_t key_end[kMaxTileRows];  // exclusive: row r sees keys [0, key_end[r]) whose mask is set
  float* out[kMaxTileRows];       // each [head_dim]
  bool bf16 = false;              // k and v hold bfloat16 (else float16)
  const uint16_t* k = nullptr;    // [n_keys, head_dim], rows kv_token_stride apart (one KV head)
  const uint16_t* v = nullptr;    // [n_keys, head_dim], rows kv_token_stride apart
  const uint8_t* mask = nullptr;  // [n_keys]
  int64_t head_dim = 0;
  int64_t kv_token_stride = 0;
  float scale = 1.0f;
  float* scores = nullptr;  // scratch [kMaxTileRows, scores_stride], scores_stride >= keys
  int64_t scores_stride = 0;
  float* acc = nullptr;  // scratch [kMaxTileRows, head_dim]
};

using HalfTileKernel = void (*)(const HalfTile& t);

void attend_half_generic(const HalfTile& t);  // any CPU
#if defined(__x86_64__) && defined(__GNUC__)
void attend_half_avx2(const HalfTile& t);    // needs AVX2, FMA and F16C
void attend_half_avx512(const HalfTile& t);  // needs AVX-512 F, BW and VL
#endif

}  // namespace alisa::attention_detail
