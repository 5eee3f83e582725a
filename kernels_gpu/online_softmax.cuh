// The online softmax of one attention row (FlashAttention's running max and sum, rescaled as the
// max grows), in float32: one state for attention_decode.cu, attention_prefill.cu and
// swa_prefill_score.cu (included by .cu files only). Not here: the tensor-core prefill's own form
// (raw scores scaled inside an approximate ex2, no branch for an all -inf row), the log-sum-exp
// merges of split partials (each guards -inf its own way), and swa_prefill_score's one-score
// update of a lane (kept inline there: as a member here it compiles to other, equivalent
// machine code).
#pragma once

#include "kernels_gpu/device_common.cuh"

namespace alisa::gpu::detail {

// The exponential of a score difference: natural-log scores (expf), or scores already scaled by
// log2(e) (exp2f), the same softmax in base 2.
struct ExpE {
  __device__ __forceinline__ static float exp(float x) { return expf(x); }
};
struct Exp2 {
  __device__ __forceinline__ static float exp(float x) { return exp2f(x); }
};

// What one update gives a lane.
struct SoftmaxStep {
  float prob;   // exp(s - m) under the new max m: the lane's weight (0 for s = -inf)
  float alpha;  // exp(m_old - m): rescales what was accumulated under the old max
};

template <typename Exp>
struct OnlineSoftmax {
  float m = -INFINITY;  // running max of the scores seen
  float l = 0.0f;       // running sum of exp(score - m)

  // One tile of scores, one per lane, over groups of kLanes lanes that share the row (all of them
  // hold the same state): `s` is this lane's score, -inf where the key is not visible. While no
  // score is finite, prob = 0 and alpha = 1.
  template <int kLanes>
  __device__ __forceinline__ SoftmaxStep update(float s) {
    const float m_new = fmaxf(m, warp_max<kLanes>(s));
    float prob = 0.0f;
    float alpha = 1.0f;
    if (m_new != -INFINITY) {  // uniform across the lanes of the row
      alpha = Exp::exp(m - m_new);
      prob = Exp::exp(s - m_new);
    }
    l = l * alpha + warp_sum<kLanes>(prob);
    m = m_new;
    return {prob, alpha};
  }

  // l under the max m_max >= m (0 while no score is finite): for merging states.
  __device__ __forceinline__ float sum_at(float m_max) const {
    return m == -INFINITY ? 0.0f : l * Exp::exp(m - m_max);
  }
};

}  // namespace alisa::gpu::detail
