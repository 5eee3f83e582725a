#include "tests/e2e/fixture_reference.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/model/safetensors.h"
#include "tests/test_support.h"

namespace alisa::test {

std::vector<std::string> reference_model_names() {
  std::vector<std::string> names = fixture_model_names();
  names.insert(names.end(), {"demo:opt-code", "demo:llama-code"});
  return names;
}

FixtureReference load_fixture_reference(const std::string& name) {
  return load_reference(name.rfind("demo:", 0) == 0 ? demo_model_path(name.substr(5))
                                                    : fixture_path(name));
}

FixtureReference load_reference(const std::filesystem::path& model_dir) {
  FixtureReference ref;
  ref.model_dir = model_dir;
  std::ifstream in(ref.model_dir / "reference.json");
  const nlohmann::json json = nlohmann::json::parse(in);
  ref.prompts = json["prompts"].get<std::vector<std::vector<int32_t>>>();
  ref.generated = json["generated"].get<std::vector<std::vector<int32_t>>>();
  const auto ids = json["input_ids"].get<std::vector<std::vector<int32_t>>>();
  const auto mask = json["attention_mask"].get<std::vector<std::vector<int32_t>>>();
  ref.batch = static_cast<int64_t>(ids.size());
  ref.seq_len = static_cast<int64_t>(ids[0].size());
  ref.gen_len = json["gen_len"].get<int64_t>();
  for (size_t b = 0; b < ids.size(); ++b) {
    ref.input_ids.insert(ref.input_ids.end(), ids[b].begin(), ids[b].end());
    for (int32_t m : mask[b]) ref.attention_mask.push_back(static_cast<uint8_t>(m));
  }
  const SafetensorsCheckpoint logits =
      SafetensorsCheckpoint::open(ref.model_dir / "reference.safetensors");
  const SafetensorsEntry& prefill = logits.at("prefill_logits");
  const SafetensorsEntry& decode = logits.at("decode_logits");
  ref.vocab = prefill.shape.at(2);
  ref.prefill_logits.resize(static_cast<size_t>(prefill.n_elements()));
  ref.decode_logits.resize(static_cast<size_t>(decode.n_elements()));
  logits.read_f32(prefill, ref.prefill_logits.data());
  logits.read_f32(decode, ref.decode_logits.data());
  return ref;
}

double row_relative_error(const float* actual, const float* reference, int64_t n) {
  double error = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(actual[i])) return INFINITY;
    const double d = static_cast<double>(actual[i]) - reference[i];
    error += d * d;
    norm += static_cast<double>(reference[i]) * reference[i];
  }
  return std::sqrt(error / std::max(norm, 1e-300));
}

}  // namespace alisa::test
