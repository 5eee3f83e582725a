#include "runtime/jobs/run_config.h"

#include <yaml-cpp/yaml.h>

#include "runtime/base/common.h"
#include "runtime/base/units.h"
#include "runtime/base/yaml_reader.h"
#include "runtime/ops/backend.h"

namespace alisa {
namespace {

std::string resolve_path(const std::filesystem::path& base, const std::string& value) {
  if (value.rfind("dummy:", 0) == 0 || value == "-") return value;
  const std::filesystem::path path(value);
  return path.is_absolute() ? value : (base / path).lexically_normal().string();
}

// The `swa:` mapping: sparsity, window_max, granularity, score, min_tokens, gamma.
void read_swa(const YAML::Node& node, const std::string& where, RunConfig& config) {
  ALISA_CHECK(node.IsMap(), where, ": expected a mapping (keys: ", swa_config_keys(), ")");
  for (const auto& item : node) {
    ALISA_CHECK(item.first.IsScalar(), where, ": a key must be a plain name");
    const std::string key = item.first.as<std::string>();
    const YAML::Node& value = item.second;
    const std::string at = str(where, " '", key, "'");
    if (key == "sparsity") {
      config.swa_sparsity = yaml_scalar<double>(value, at, "a number in [0, 1)");
    } else if (key == "window_max") {
      config.swa_window_max = yaml_scalar<int64_t>(value, at, "an integer");
    } else if (key == "granularity") {
      config.swa_granularity = yaml_scalar<std::string>(value, at, "layer or head");
      parse_swa_granularity(*config.swa_granularity, at);
    } else if (key == "score") {
      config.swa_score = yaml_scalar<std::string>(value, at, "window, decay, history or recent");
      parse_swa_score(*config.swa_score, at);
    } else if (key == "min_tokens") {
      config.swa_min_tokens = yaml_scalar<int64_t>(value, at, "an integer");
    } else if (key == "gamma") {
      config.swa_gamma = yaml_scalar<double>(value, at, "a number in (0, 1]");
    } else {
      throw Error(str(where, ": unknown key '", key, "' (known: ", swa_config_keys(), ")"));
    }
  }
}

}  // namespace

const char* run_config_keys() {
  return "model, prompts, output, tokenizer, max_new_tokens, prompt_len, gen_len, temperature, "
         "top_p, top_k, seed, "
         "batch_size, stop_at_eos, device, gpu_memory_limit, threads, cpu_memory_limit, "
         "dummy_seed, "
         "policy, hardware, allow_compression, offload_dir, swa";
}

const char* swa_config_keys() {
  return "sparsity, window_max, granularity, score, min_tokens, gamma";
}

SwaOptions swa_options(const RunConfig& c, const std::string& source) {
  SwaOptions o;
  if (c.swa_sparsity) o.sparsity = *c.swa_sparsity;
  if (c.swa_window_max) o.window_max = *c.swa_window_max;
  if (c.swa_granularity) o.granularity = parse_swa_granularity(*c.swa_granularity, source);
  if (c.swa_score) o.score = parse_swa_score(*c.swa_score, source);
  if (c.swa_min_tokens) o.min_tokens = *c.swa_min_tokens;
  if (c.swa_gamma) o.gamma = *c.swa_gamma;
  validate(o, source);
  return o;
}

void RunConfig::merge(const RunConfig& o) {
  auto take = [](auto& field, const auto& other) {
    if (other) field = other;
  };
  take(model, o.model);
  take(prompts, o.prompts);
  take(output, o.output);
  take(tokenizer, o.tokenizer);
  take(max_new_tokens, o.max_new_tokens);
  take(prompt_len, o.prompt_len);
  take(gen_len, o.gen_len);
  take(temperature, o.temperature);
  take(top_p, o.top_p);
  take(top_k, o.top_k);
  take(seed, o.seed);
  take(batch_size, o.batch_size);
  take(stop_at_eos, o.stop_at_eos);
  take(device, o.device);
  take(gpu_memory_limit, o.gpu_memory_limit);
  take(threads, o.threads);
  take(cpu_memory_limit, o.cpu_memory_limit);
  take(dummy_seed, o.dummy_seed);
  take(policy, o.policy);
  take(hardware, o.hardware);
  take(allow_compression, o.allow_compression);
  take(offload_dir, o.offload_dir);
  take(swa_sparsity, o.swa_sparsity);
  take(swa_window_max, o.swa_window_max);
  take(swa_granularity, o.swa_granularity);
  take(swa_score, o.swa_score);
  take(swa_min_tokens, o.swa_min_tokens);
  take(swa_gamma, o.swa_gamma);
}

RunConfig load_run_config(const std::filesystem::path& path) {
  const YAML::Node root = parse_yaml(read_yaml_file(path, "config"), path.string());
  RunConfig config;
  if (root.IsNull()) return config;
  ALISA_CHECK(root.IsMap(), path.string(), ": expected a mapping of settings");
  const std::filesystem::path base = path.parent_path();
  for (const auto& item : root) {
    ALISA_CHECK(item.first.IsScalar(), path.string(), ": line ", item.first.Mark().line + 1,
                ": a key must be a plain name (known: ", run_config_keys(), ")");
    const std::string key = item.first.as<std::string>();
    const YAML::Node& value = item.second;
    const std::string where = str(path.string(), ": '", key, "'");
    if (key == "model") {
      config.model =
          resolve_path(base, yaml_scalar<std::string>(value, where, "a folder or dummy:NAME"));
    } else if (key == "prompts") {
      config.prompts = resolve_path(base, yaml_scalar<std::string>(value, where, "a path"));
    } else if (key == "output") {
      config.output = resolve_path(base, yaml_scalar<std::string>(value, where, "a path"));
    } else if (key == "tokenizer") {
      config.tokenizer = resolve_path(base, yaml_scalar<std::string>(value, where, "a path"));
    } else if (key == "max_new_tokens") {
      config.max_new_tokens = yaml_scalar<int64_t>(value, where, "an integer");
    } else if (key == "prompt_len") {
      config.prompt_len = yaml_scalar<int64_t>(value, where, "an integer");
    } else if (key == "gen_len") {
      config.gen_len = yaml_scalar<int64_t>(value, where, "an integer");
    } else if (key == "temperature") {
      config.temperature = yaml_scalar<float>(value, where, "a number");
    } else if (key == "top_p") {
      config.top_p = yaml_scalar<float>(value, where, "a number");
    } else if (key == "top_k") {
      config.top_k = yaml_scalar<int32_t>(value, where, "an integer");
    } else if (key == "seed") {
      config.seed = yaml_scalar<uint64_t>(value, where, "a non-negative integer");
    } else if (key == "batch_size") {
      config.batch_size = yaml_scalar<int64_t>(value, where, "an integer");
    } else if (key == "stop_at_eos") {
      config.stop_at_eos = yaml_scalar<bool>(value, where, "true or false");
    } else if (key == "threads") {
      config.threads = yaml_scalar<int32_t>(value, where, "an integer");
    } else if (key == "device") {
      config.device = yaml_scalar<std::string>(value, where, "cpu, gpu or auto");
      parse_device_choice(*config.device, where);
    } else if (key == "gpu_memory_limit") {
      config.gpu_memory_limit =
          parse_byte_size(yaml_scalar<std::string>(value, where, "a byte size"), where);
    } else if (key == "cpu_memory_limit") {
      config.cpu_memory_limit =
          parse_byte_size(yaml_scalar<std::string>(value, where, "a byte size"), where);
    } else if (key == "dummy_seed") {
      config.dummy_seed = yaml_scalar<uint64_t>(value, where, "a non-negative integer");
    } else if (key == "policy") {
      const std::string policy = yaml_scalar<std::string>(value, where, "a path or auto");
      config.policy = policy == "auto" ? policy : resolve_path(base, policy);
    } else if (key == "hardware") {
      config.hardware = resolve_path(base, yaml_scalar<std::string>(value, where, "a path"));
    } else if (key == "allow_compression") {
      config.allow_compression = yaml_scalar<bool>(value, where, "true or false");
    } else if (key == "offload_dir") {
      config.offload_dir = resolve_path(base, yaml_scalar<std::string>(value, where, "a folder"));
    } else if (key == "swa") {
      read_swa(value, where, config);
    } else {
      throw Error(str(path.string(), ": unknown key '", key, "' (known: ", run_config_keys(), ")"));
    }
  }
  swa_options(config, path.string());  // out-of-range swa values are named with the file
  return config;
}

}  // namespace alisa
