#include "policy/policy.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/base/common.h"
#include "runtime/base/yaml_reader.h"

namespace alisa {
namespace {

// Large enough for any real block; small enough that byte products cannot overflow.
constexpr int64_t kMaxBlockSize = int64_t{1} << 20;

void check_percent(double value, const std::string& source, const char* key) {
  ALISA_CHECK(std::isfinite(value) && value >= 0 && value <= 100, source, ": '", key,
              "' must be a percentage in [0, 100], got ", value);
}

void check_split(double gpu, double cpu, const std::string& source, const char* kind) {
  ALISA_CHECK(gpu + cpu <= 100, source, ": ", kind, "_gpu_percent + ", kind, "_cpu_percent is ",
              gpu + cpu, " (", gpu, " + ", cpu,
              "), more than 100 (the rest, 100 - gpu - cpu, goes to disk)");
}

// The settings of a policy file, in the order files and messages list them, but for
// cache_recompute_percent (last, as it also takes "auto"). Every number among them is a
// percentage.
using SettingField = std::variant<int64_t Policy::*, double Policy::*, bool Policy::*>;
const std::pair<const char*, SettingField> kSettings[] = {
    {"gpu_batch_size", &Policy::gpu_batch_size},
    {"num_gpu_batches", &Policy::num_gpu_batches},
    {"weights_gpu_percent", &Policy::weights_gpu_percent},
    {"weights_cpu_percent", &Policy::weights_cpu_percent},
    {"cache_gpu_percent", &Policy::cache_gpu_percent},
    {"cache_cpu_percent", &Policy::cache_cpu_percent},
    {"activations_gpu_percent", &Policy::activations_gpu_percent},
    {"activations_cpu_percent", &Policy::activations_cpu_percent},
    {"cpu_attention", &Policy::cpu_attention},
    {"pin_weights", &Policy::pin_weights},
    {"compress_weights", &Policy::compress_weights},
    {"compress_cache", &Policy::compress_cache},
};
constexpr const char* kRecomputeKey = "cache_recompute_percent";

// What a setting's YAML value must be, by its type.
const char* expected_value(int64_t) {
  return "an integer";
}
const char* expected_value(double) {
  return "a number";
}
const char* expected_value(bool) {
  return "true or false";
}

// A setting's value as a policy file writes it (numbers to 10 significant digits).
struct ValueText {
  std::string operator()(int64_t x) const { return str(x); }
  std::string operator()(double x) const {
    char text[32];
    std::snprintf(text, sizeof text, "%.10g", x);
    return text;
  }
  std::string operator()(bool x) const { return x ? "true" : "false"; }
  std::string operator()(const std::string& x) const { return x; }
};

// The keys of a policy YAML, in the order messages list them, each read into `p`.
YamlKeyReaders policy_readers(Policy& p) {
  YamlKeyReaders readers;
  for (const auto& [key, field] : kSettings) {
    readers.emplace_back(
        key,
        std::visit([&p](auto member) { return yaml_value(p.*member, expected_value(p.*member)); },
                   field));
  }
  readers.emplace_back(kRecomputeKey, [&p](const YAML::Node& value, const YamlKey& key) {
    if (value.IsScalar() && value.Scalar() == "auto") {
      p.cache_recompute_auto = true;
    } else {
      p.cache_recompute_percent = yaml_scalar<double>(value, key.where, "a number or auto");
    }
  });
  return readers;
}

}  // namespace

const char* policy_keys() {
  static const std::string keys = [] {
    Policy policy;
    return yaml_key_list(policy_readers(policy));
  }();
  return keys.c_str();
}

std::string refill_unsupported(const Policy& policy) {
  if (policy.compress_cache && policy.cpu_attention) {
    return "an int8 cache attended on the CPU (compress_cache with cpu_attention): a refilled "
           "row's prompt would be quantised through mapped memory";
  }
  return {};
}

int64_t kept_hidden_positions(const Policy& policy, int64_t capacity, int64_t prompt_len) {
  if (policy.cache_recompute_percent <= 0) return 0;
  return std::min<int64_t>(
      std::llround(policy.cache_recompute_percent / 100.0 * static_cast<double>(capacity)),
      prompt_len);
}

void validate(const Policy& p, const std::string& source) {
  ALISA_CHECK(p.gpu_batch_size >= 1, source, ": 'gpu_batch_size' must be at least 1, got ",
              p.gpu_batch_size);
  ALISA_CHECK(p.num_gpu_batches >= 1, source, ": 'num_gpu_batches' must be at least 1, got ",
              p.num_gpu_batches);
  ALISA_CHECK(p.gpu_batch_size <= kMaxBlockSize / p.num_gpu_batches, source,
              ": gpu_batch_size * num_gpu_batches (", p.gpu_batch_size, " * ", p.num_gpu_batches,
              ") must be at most ", kMaxBlockSize);
  for (const auto& [key, field] : kSettings) {
    if (const auto* percent = std::get_if<double Policy::*>(&field)) {
      check_percent(p.**percent, source, key);
    }
  }
  check_percent(p.cache_recompute_percent, source, kRecomputeKey);
  check_split(p.weights_gpu_percent, p.weights_cpu_percent, source, "weights");
  check_split(p.cache_gpu_percent, p.cache_cpu_percent, source, "cache");
  check_split(p.activations_gpu_percent, p.activations_cpu_percent, source, "activations");
}

Policy policy_from_yaml(const std::string& yaml_text, const std::string& source) {
  const YAML::Node root = parse_yaml(yaml_text, source);
  Policy policy;
  if (root.IsNull()) return policy;
  read_yaml_mapping(
      root,
      {.where = source,
       .expected = str("expected a mapping of policy settings (known: ", policy_keys(), ")")},
      policy_readers(policy));
  validate(policy, source);
  return policy;
}

Policy load_policy(const std::filesystem::path& path) {
  return policy_from_yaml(read_yaml_file(path, "policy"), path.string());
}

std::vector<std::pair<std::string, PolicyValue>> policy_settings(const Policy& p) {
  std::vector<std::pair<std::string, PolicyValue>> settings;
  for (const auto& [key, field] : kSettings) {
    settings.emplace_back(key, std::visit(
                                   [&p](auto member) {
                                     using T = std::decay_t<decltype(p.*member)>;
                                     return PolicyValue(std::in_place_type<T>, p.*member);
                                   },
                                   field));
  }
  settings.emplace_back(kRecomputeKey, p.cache_recompute_auto
                                           ? PolicyValue(std::in_place_type<std::string>, "auto")
                                           : PolicyValue(p.cache_recompute_percent));
  return settings;
}

std::string policy_to_yaml(const Policy& p) {
  std::string yaml;
  for (const auto& [key, value] : policy_settings(p)) {
    yaml += key + ": " + std::visit(ValueText{}, value) + "\n";
  }
  return yaml;
}

}  // namespace alisa
