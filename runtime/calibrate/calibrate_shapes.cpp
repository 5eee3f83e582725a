#include "runtime/calibrate/calibrate_shapes.h"

#include <algorithm>

#include "runtime/model/model_spec.h"

namespace alisa {

const std::vector<std::string>& default_calibration_models() {
  static const std::vector<std::string> models = {
      "opt-6.7b", "opt-13b", "opt-30b", "opt-66b", "llama-2-7b", "llama-2-13b", "llama-2-70b"};
  return models;
}

std::vector<GemmShape> calibration_gemm_shapes(const std::vector<std::string>& models) {
  std::vector<GemmShape> shapes;
  auto add = [&](int64_t n, int64_t k) {
    const GemmShape shape{n, k};
    if (std::find(shapes.begin(), shapes.end(), shape) == shapes.end()) shapes.push_back(shape);
  };
  for (const std::string& name : models) {
    const ModelSpec spec = named_model_spec(name);
    const int64_t d = spec.hidden_size;
    // As DecoderProgram launches them: q, k and v separately, then o, the MLP and the head.
    add(spec.q_dim(), d);
    add(spec.kv_dim(), d);
    add(d, spec.q_dim());
    add(spec.ffn_dim, d);  // up (and LLaMA's gate)
    add(d, spec.ffn_dim);  // down
    add(spec.vocab_size, spec.embed_dim());
    if (spec.embed_dim() != d) {
      add(d, spec.embed_dim());  // OPT's project_in
      add(spec.embed_dim(), d);  // project_out
    }
  }
  return shapes;
}

}  // namespace alisa
