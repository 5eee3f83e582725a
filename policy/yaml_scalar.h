// One YAML scalar as T, for the policy and run-config readers: errors name where it is and what
// was expected ("policy.yaml: 'gpu_batch_size' must be an integer, got 'x'").
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "runtime/common.h"

namespace alisa {

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
