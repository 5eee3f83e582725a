// Scalar, double-accumulating reference implementations of every kernel: the ground truth that
// kernels_cpu and kernels_gpu tests compare against. Slow by design; test-only: built into the
// tests' alisa_test_support library, never into the engine's.
// Inputs are the float32 arrays the params point at; outputs are double arrays laid out
// contiguously in the shape the params' comments give (strides of the params are honoured for
// inputs, not for these outputs).
#pragma once

#include <cstdint>

#include "runtime/base/kernel_params.h"

namespace alisa::reference {

void embedding(const EmbeddingParams& p, double* out);                    // [n_tokens, dim]
void layer_norm(const NormParams& p, double* out, double* residual_out);  // [n_rows, dim]
void rms_norm(const NormParams& p, double* out, double* residual_out);    // [n_rows, dim]
void linear(const LinearParams& p, double* y);                            // [m, n]
void activation(const ActivationParams& p, double* out);                  // [n]
void add(const AddParams& p, double* out);                                // [n]
void rotary(const RotaryParams& p, double* out);  // [n_tokens, n_heads, head_dim], rotated copy
void attention(const AttentionParams& p, double* out);      // [batch, n_q, n_heads, head_dim]
void sample(const SamplingParams& p, int32_t* out_tokens);  // [batch]

}  // namespace alisa::reference
