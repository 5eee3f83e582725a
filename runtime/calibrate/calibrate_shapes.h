// What `alisa calibrate` measures the GEMMs at: the models' weight matrices.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace alisa {

// One weight matrix of a decoder, as the runtime multiplies it: y [m, n] = x [m, k] W^T.
struct GemmShape {
  int64_t n = 0, k = 0;
  bool operator==(const GemmShape&) const = default;
};

// The models `alisa calibrate` measures when --models is not given.
const std::vector<std::string>& default_calibration_models();

// The distinct (n, k) of every matrix the runtime's decoder multiplies for these named models
// (runtime/model/model_spec.h): q, k, v, o, the MLP's, the LM head and OPT's projections, in
// first-seen order. Throws alisa::Error naming an unknown model.
std::vector<GemmShape> calibration_gemm_shapes(const std::vector<std::string>& models);

}  // namespace alisa
