// Helpers shared by the test binaries: fixture lookup, scratch folders, random data, comparisons.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace alisa::test {

// ../shared/fixtures/<name>; fails the test (throws) with a clear message when it is missing.
std::filesystem::path fixture_path(const std::string& name);

// The fixture models the engine is held to Hugging Face on, one per family and option: opt-tiny,
// llama-tiny, llama3-tiny (Llama-3.1 rope scaling), mistral-tiny, qwen2-tiny (q/k/v biases, tied
// embeddings), qwen3-tiny (per-head q/k norms, head_dim unrelated to hidden_size / heads).
const std::vector<std::string>& fixture_model_names();

// This repository's root: ALISA_REPO_DIR where set (a copy on the GPU host), else the source
// folder the tests were built from.
std::filesystem::path repo_dir();
// configs/demo-models/<name> of repo_dir().
std::filesystem::path demo_model_path(const std::string& name);

// A fresh, empty folder under the system temp dir, removed when the object goes away.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A copy of fixture model `name`'s config.json and model.safetensors in `scratch`, whose files a
// test may then damage.
std::filesystem::path copy_fixture_model(const ScratchDir& scratch, const std::string& name);

void write_text(const std::filesystem::path& path, const std::string& text);
std::string read_text(const std::filesystem::path& path);

// Uniform values in [lo, hi), from a seeded generator: never all zeros.
std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// Quiet NaNs: poison an output before a kernel runs, so an unwritten element fails the check.
std::vector<float> nan_filled(size_t n);

struct Comparison {
  double max_abs_error = 0;
  double max_ref_abs = 0;
  size_t n_nan = 0;  // NaN or inf in `actual`
  size_t worst_index = 0;
  bool all_zero = true;  // `actual` held only zeros
  size_t n_bad = 0;      // elements outside the tolerance given to compare()
  // Every element within tolerance, no NaN, and not all zeros (unless the reference is).
  bool ok() const;
  std::string describe() const;
};

// Compares elementwise; counts elements outside atol + rtol * |ref|.
Comparison compare(const float* actual, const double* reference, size_t n, double rtol,
                   double atol);
Comparison compare(const float* actual, const float* reference, size_t n, double rtol, double atol);

// Index of the largest logit (the lowest among equal maxima, as torch.argmax).
int32_t argmax(const float* row, int64_t n);
// Whether the largest logit beats the second by more than `margin`: the argmax is decided.
bool clear_winner(const float* row, int64_t n, double margin);

// `path` in single quotes, one argument of a run_alisa command line.
std::string quoted(const std::filesystem::path& path);

// Runs the alisa binary with the given arguments; returns its exit code and captures
// stdout+stderr into `output`.
int run_alisa(const std::string& args, std::string* output);

// Runs alisa and requires exit status 1 and exactly one line that starts with "alisa: error:"
// and contains `culprit`.
void require_user_error(const std::string& args, const std::string& culprit);

}  // namespace alisa::test
