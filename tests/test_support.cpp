#include "tests/test_support.h"

#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace alisa::test {

std::filesystem::path fixture_path(const std::string& name) {
  // The environment may point elsewhere (a copy carried to the GPU host).
  const char* override_dir = std::getenv("ALISA_FIXTURES_DIR");
  const std::filesystem::path path = std::filesystem::absolute(
      std::filesystem::path(override_dir != nullptr ? override_dir : ALISA_FIXTURES_DIR) / name);
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error("test fixture not found: " + path.string() +
                             " (the shared fixtures must sit at ../shared/fixtures)");
  }
  return path;
}

const std::vector<std::string>& fixture_model_names() {
  static const std::vector<std::string> names = {"opt-tiny",     "llama-tiny", "llama3-tiny",
                                                 "mistral-tiny", "qwen2-tiny", "qwen3-tiny"};
  return names;
}

std::filesystem::path repo_dir() {
  const char* override_dir = std::getenv("ALISA_REPO_DIR");
  return std::filesystem::absolute(override_dir != nullptr ? override_dir : ALISA_SOURCE_DIR);
}

std::filesystem::path demo_model_path(const std::string& name) {
  const std::filesystem::path path = repo_dir() / "configs/demo-models" / name;
  if (!std::filesystem::exists(path / "config.json")) {
    throw std::runtime_error("demo model not found: " + path.string());
  }
  return path;
}

ScratchDir::ScratchDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "alisa-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<float> random_floats(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

std::vector<float> nan_filled(size_t n) {
  return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

bool Comparison::ok() const {
  return n_nan == 0 && n_bad == 0 && !(all_zero && max_ref_abs > 0);
}

std::string Comparison::describe() const {
  std::ostringstream out;
  out << "max_abs_error=" << max_abs_error << " at " << worst_index << ", max|ref|=" << max_ref_abs
      << ", out of tolerance=" << n_bad << ", non-finite=" << n_nan
      << (all_zero ? ", output all zeros" : "");
  return out.str();
}

template <typename Ref>
static Comparison compare_impl(const float* actual, const Ref* reference, size_t n, double rtol,
                               double atol) {
  Comparison c;
  for (size_t i = 0; i < n; ++i) {
    const double a = actual[i];
    const double r = static_cast<double>(reference[i]);
    c.max_ref_abs = std::max(c.max_ref_abs, std::abs(r));
    if (!std::isfinite(a)) {
      ++c.n_nan;
      c.worst_index = i;
      continue;
    }
    if (a != 0) c.all_zero = false;
    const double err = std::abs(a - r);
    if (err > c.max_abs_error) {
      c.max_abs_error = err;
      c.worst_index = i;
    }
    if (err > atol + rtol * std::abs(r)) ++c.n_bad;
  }
  return c;
}

Comparison compare(const float* actual, const double* reference, size_t n, double rtol,
                   double atol) {
  return compare_impl(actual, reference, n, rtol, atol);
}

Comparison compare(const float* actual, const float* reference, size_t n, double rtol,
                   double atol) {
  return compare_impl(actual, reference, n, rtol, atol);
}

std::string quoted(const std::filesystem::path& path) {
  return "'" + path.string() + "'";
}

int run_alisa(const std::string& args, std::string* output) {
  const char* override_binary = std::getenv("ALISA_BINARY");
  const std::string command =
      std::string(override_binary != nullptr ? override_binary : ALISA_BINARY) + " " + args +
      " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> chunk;
  std::string captured;
  size_t got;
  while ((got = fread(chunk.data(), 1, chunk.size(), pipe)) > 0) captured.append(chunk.data(), got);
  const int status = pclose(pipe);
  if (output != nullptr) *output = captured;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void require_user_error(const std::string& args, const std::string& culprit) {
  std::string output;
  const int status = run_alisa(args, &output);
  INFO("alisa " << args << "\n" << output);
  REQUIRE(status == 1);
  REQUIRE(output.rfind("alisa: error: ", 0) == 0);
  REQUIRE(std::count(output.begin(), output.end(), '\n') == 1);
  REQUIRE_THAT(output, Catch::Contains(culprit));
}

std::filesystem::path copy_fixture_model(const ScratchDir& scratch, const std::string& name) {
  const std::filesystem::path dir = scratch / name;
  std::filesystem::create_directories(dir);
  for (const char* file : {"config.json", "model.safetensors"}) {
    std::filesystem::copy_file(fixture_path(name) / file, dir / file);
  }
  return dir;
}

int32_t argmax(const float* row, int64_t n) {
  return static_cast<int32_t>(std::max_element(row, row + n) - row);
}

bool clear_winner(const float* row, int64_t n, double margin) {
  std::vector<float> sorted(row, row + n);
  std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
  return sorted[0] - sorted[1] > margin;
}

}  // namespace alisa::test
