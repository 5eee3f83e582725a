// Named model architectures (configs/models/*.json), compiled into the binary by CMake.
#pragma once

#include <string_view>
#include <vector>

namespace alisa {

struct EmbeddedModel {
  std::string_view name;         // file name without .json, e.g. "opt-6.7b"
  std::string_view config_json;  // Hugging Face config.json text
};

const std::vector<EmbeddedModel>& embedded_models();

}  // namespace alisa
