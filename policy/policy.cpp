#include "policy/policy.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

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

// The keys of a policy YAML, in the order messages list them, each read into `p`.
YamlKeyReaders policy_readers(Policy& p) {
  return {
      {"gpu_batch_size", yaml_value(p.gpu_batch_size, "an integer")},
      {"num_gpu_batches", yaml_value(p.num_gpu_batches, "an integer")},
      {"weights_gpu_percent", yaml_value(p.weights_gpu_percent, "a number")},
      {"weights_cpu_percent", yaml_value(p.weights_cpu_percent, "a number")},
      {"cache_gpu_percent", yaml_value(p.cache_gpu_percent, "a number")},
      {"cache_cpu_percent", yaml_value(p.cache_cpu_percent, "a number")},
      {"activations_gpu_percent", yaml_value(p.activations_gpu_percent, "a number")},
      {"activations_cpu_percent", yaml_value(p.activations_cpu_percent, "a number")},
      {"cpu_attention", yaml_value(p.cpu_attention, "true or false")},
      {"pin_weights", yaml_value(p.pin_weights, "true or false")},
      {"compress_weights", yaml_value(p.compress_weights, "true or false")},
      {"compress_cache", yaml_value(p.compress_cache, "true or false")},
      {"cache_recompute_percent",
       [&p](const YAML::Node& value, const YamlKey& key) {
         if (value.IsScalar() && value.Scalar() == "auto") {
           p.cache_recompute_auto = true;
         } else {
           p.cache_recompute_percent = yaml_scalar<double>(value, key.where, "a number or auto");
         }
       }},
  };
}

}  // namespace

const char* policy_keys() {
  static const std::string keys = [] {
    Policy policy;
    return yaml_key_list(policy_readers(policy));
  }();
  return keys.c_str();
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
  check_percent(p.weights_gpu_percent, source, "weights_gpu_percent");
  check_percent(p.weights_cpu_percent, source, "weights_cpu_percent");
  check_percent(p.cache_gpu_percent, source, "cache_gpu_percent");
  check_percent(p.cache_cpu_percent, source, "cache_cpu_percent");
  check_percent(p.activations_gpu_percent, source, "activations_gpu_percent");
  check_percent(p.activations_cpu_percent, source, "activations_cpu_percent");
  check_percent(p.cache_recompute_percent, source, "cache_recompute_percent");
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

std::string policy_to_yaml(const Policy& p) {
  const auto number = [](double x) {
    char text[32];
    std::snprintf(text, sizeof text, "%.10g", x);
    return std::string(text);
  };
  const auto flag = [](bool x) { return x ? "true" : "false"; };
  return str("gpu_batch_size: ", p.gpu_batch_size, "\nnum_gpu_batches: ", p.num_gpu_batches,
             "\nweights_gpu_percent: ", number(p.weights_gpu_percent),
             "\nweights_cpu_percent: ", number(p.weights_cpu_percent),
             "\ncache_gpu_percent: ", number(p.cache_gpu_percent),
             "\ncache_cpu_percent: ", number(p.cache_cpu_percent),
             "\nactivations_gpu_percent: ", number(p.activations_gpu_percent),
             "\nactivations_cpu_percent: ", number(p.activations_cpu_percent),
             "\ncpu_attention: ", flag(p.cpu_attention), "\npin_weights: ", flag(p.pin_weights),
             "\ncompress_weights: ", flag(p.compress_weights),
             "\ncompress_cache: ", flag(p.compress_cache), "\ncache_recompute_percent: ",
             p.cache_recompute_auto ? "auto" : number(p.cache_recompute_percent), "\n");
}

}  // namespace alisa
