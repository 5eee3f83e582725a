// The Hugging Face reference of a fixture model (../shared/fixtures/<name>/reference.*).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace alisa::test {

struct FixtureReference {
  std::filesystem::path model_dir;
  std::vector<std::vector<int32_t>> prompts;    // unpadded
  std::vector<int32_t> input_ids;               // [batch, seq_len], left-padded
  std::vector<uint8_t> attention_mask;          // [batch, seq_len]
  std::vector<std::vector<int32_t>> generated;  // [batch][gen_len], greedy
  int64_t batch = 0, seq_len = 0, gen_len = 0, vocab = 0;
  std::vector<float> prefill_logits;  // [batch, seq_len, vocab]
  std::vector<float> decode_logits;   // [batch, gen_len, vocab]
};

// Every model with a Hugging Face reference: the fixtures (fixture_model_names()) and the
// repository's demo models ("demo:opt-code", "demo:llama-code").
std::vector<std::string> reference_model_names();

// A checkpoint folder with reference.json and reference.safetensors in the fixtures' format.
FixtureReference load_reference(const std::filesystem::path& model_dir);
// ../shared/fixtures/<name>, or the repository's demo models for "demo:opt-code" and the like.
FixtureReference load_fixture_reference(const std::string& name);

// ||a - r|| / ||r|| over a row (Euclidean norms): the relative error of a logits row.
double row_relative_error(const float* actual, const float* reference, int64_t n);

}  // namespace alisa::test
