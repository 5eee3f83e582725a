// The folder rule of docs/ARCHITECTURE.md, checked on the sources: includes between folders run
// one way (a folder includes only folders below it in kFolderOrder), kernels and policy include
// only runtime/base of the project, and nothing includes runtime/cli.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace {

// Lowest first: a folder may include itself and the folders before it, except where
// allowed_into() narrows that.
const std::vector<std::string> kFolderOrder = {
    "runtime/base",     "kernels_cpu",   "kernels_gpu",       "policy",         "runtime/core",
    "runtime/ops",      "runtime/tiers", "runtime/model",     "runtime/text",   "runtime/program",
    "runtime/schedule", "runtime/jobs",  "runtime/calibrate", "runtime/python", "runtime/cli"};

int rank_of(const std::string& path) {
  for (size_t i = 0; i < kFolderOrder.size(); ++i) {
    if (path.rfind(kFolderOrder[i] + "/", 0) == 0) return static_cast<int>(i);
  }
  return -1;
}

// Kernels and policy reach only runtime/base (and their own folder).
bool allowed_into(const std::string& from_folder, const std::string& to_folder) {
  if (from_folder == to_folder) return true;
  if (from_folder == "kernels_cpu" || from_folder == "kernels_gpu" || from_folder == "policy") {
    return to_folder == "runtime/base";
  }
  return rank_of(to_folder + "/") < rank_of(from_folder + "/");
}

}  // namespace

TEST_CASE("includes between folders follow the folder rule", "[architecture]") {
  const std::filesystem::path root = ALISA_SOURCE_DIR;
  const std::regex include_line(R"re(^\s*#\s*include\s+"([^"]+)")re");
  int64_t files = 0, includes = 0;
  std::vector<std::string> broken;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const std::string ext = entry.path().extension().string();
    if (ext != ".h" && ext != ".cpp" && ext != ".cu" && ext != ".cuh") continue;
    const std::string path = std::filesystem::relative(entry.path(), root).generic_string();
    const int from = rank_of(path);
    if (from < 0) continue;  // tests, scripts, the build folder
    ++files;
    const std::string from_folder = kFolderOrder[static_cast<size_t>(from)];
    std::ifstream in(entry.path());
    std::string line;
    std::smatch match;
    while (std::getline(in, line)) {
      if (!std::regex_search(line, match, include_line)) continue;
      const std::string target = match[1];
      const int to = rank_of(target);
      if (to < 0) continue;  // a system or third-party header
      ++includes;
      const std::string to_folder = kFolderOrder[static_cast<size_t>(to)];
      if (!allowed_into(from_folder, to_folder)) broken.push_back(path + " includes " + target);
    }
  }
  std::string listed;
  for (const std::string& b : broken) listed += "\n  " + b;
  INFO("includes against the rule:" << listed);
  CHECK(broken.empty());
  CHECK(files > 100);
  CHECK(includes > 300);
}
