// Reading the YAML files (policies, hardware profiles, run configs): a file's text, its parse, a
// mapping key by key and one scalar as T, each error naming where it is and what was expected
// ("policy.yaml: 'gpu_batch_size' must be an integer, got 'x'").
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/base/common.h"

namespace alisa {

// The text of `path`, a `what` ("policy", "hardware profile") that must exist.
std::string read_yaml_file(const std::filesystem::path& path, const char* what);

// `text` parsed; malformed YAML throws alisa::Error naming `source` and the line.
YAML::Node parse_yaml(const std::string& text, const std::string& source);

template <typename T>
T yaml_scalar(const YAML::Node& node, const std::string& where, const char* expected) {
  ALISA_CHECK(node.IsScalar(), where, " must be ", expected);
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw Error(str(where, " must be ", expected, ", got '", node.Scalar(), "'"));
  }
}

// A key of a mapping, as its reader gets it.
struct YamlKey {
  std::string name;   // dotted from the file's root: "pinned.h2d_gbps", "gpu_gemm[2].tflops"
  std::string where;  // opens the messages about its value: "hw.yaml: 'pinned.h2d_gbps'"
};
using YamlKeyReader = std::function<void(const YAML::Node& value, const YamlKey& key)>;
// The keys a mapping accepts, each with its reader, in the order messages list them.
using YamlKeyReaders = std::vector<std::pair<std::string, YamlKeyReader>>;

// "a, b, c": the keys of `readers`.
std::string yaml_key_list(const YamlKeyReaders& readers);

// A mapping: how its messages name it, and what it refuses besides keys that are not plain names
// and unknown keys.
struct YamlMapping {
  // Opens every message: the file ("p.yaml"), or the file and the key that holds the mapping
  // ("run.yaml: 'swa'").
  std::string where = {};
  // The mapping's dotted name, which names its keys in messages ("mapped": 'mapped.read_gbps');
  // empty at the file's root.
  std::string path = {};
  // What follows "<where>: " when the node is not a mapping ("expected a mapping of settings").
  std::string expected = {};
  // "a key of <called> must be a plain name" ("the profile", "'mapped'"); empty: "a key must be
  // a plain name".
  std::string called = {};
  // That message with the key's line and the known keys ("<where>: line 3: a key must be a plain
  // name (known: a, b)"), or without ("<where>: a key must be a plain name").
  bool key_details = true;
  // Opens the messages about a value, before its quoted key; empty: "<where>: ".
  std::string value_where = {};
  bool unique_keys = true;    // a repeated key is an error (false: the last one wins)
  bool all_required = false;  // a key of `readers` that is absent is an error
};

// Reads `node`, which must be a mapping, key by key in the file's order: each key through its
// reader. Throws alisa::Error when the node is not a mapping, a key is not a plain name or not
// one of `readers` ("<where>: unknown key 'mapped.speed' (known: read_gbps, write_gbps)"), and
// as `mapping` asks, a key repeats ("<where>: key 'x' appears more than once") or is missing
// ("<where>: missing key 'x'").
void read_yaml_mapping(const YAML::Node& node, const YamlMapping& mapping,
                       const YamlKeyReaders& readers);

// A reader storing the value as T (or an optional T): "<where> must be <expected>" otherwise.
template <typename T>
YamlKeyReader yaml_value(T& out, const char* expected) {
  return [&out, expected](const YAML::Node& value, const YamlKey& key) {
    out = yaml_scalar<T>(value, key.where, expected);
  };
}
template <typename T>
YamlKeyReader yaml_value(std::optional<T>& out, const char* expected) {
  return [&out, expected](const YAML::Node& value, const YamlKey& key) {
    out = yaml_scalar<T>(value, key.where, expected);
  };
}

}  // namespace alisa
