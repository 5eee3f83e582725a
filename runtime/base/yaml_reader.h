// Reading the YAML files (policies, hardware profiles, run configs): a file's text, its parse,
// and one scalar as T, each error naming where it is and what was expected ("policy.yaml:
// 'gpu_batch_size' must be an integer, got 'x'").
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "runtime/base/common.h"

namespace alisa {

// The text of `path`, a `what` ("policy", "hardware profile") that must exist.
inline std::string read_yaml_file(const std::filesystem::path& path, const char* what) {
  ALISA_CHECK(std::filesystem::is_regular_file(path), what, " ", path.string(), " does not exist");
  std::ifstream in(path, std::ios::binary);
  ALISA_CHECK(in, what, " ", path.string(), " cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// `text` parsed; malformed YAML throws alisa::Error naming `source` and the line.
inline YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(str(source, ": not valid YAML (line ", e.mark.line + 1, ": ", e.msg, ")"));
  }
}

template <typename T>
T yaml_scalar(const YAML::Node& node, const std::string& where, const char* expected) {
  ALISA_CHECK(node.IsScalar(), where, " must be ", expected);
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw Error(str(where, " must be ", expected, ", got '", node.Scalar(), "'"));
  }
}

}  // namespace alisa
