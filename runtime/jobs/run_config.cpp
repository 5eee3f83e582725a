#include "runtime/jobs/run_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

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

// A path in the file, resolved against its folder.
YamlKeyReader path_value(std::optional<std::string>& out, const std::filesystem::path& base,
                         const char* expected) {
  return [&out, base, expected](const YAML::Node& value, const YamlKey& key) {
    out = resolve_path(base, yaml_scalar<std::string>(value, key.where, expected));
  };
}

YamlKeyReader byte_size(std::optional<uint64_t>& out) {
  return [&out](const YAML::Node& value, const YamlKey& key) {
    out = parse_byte_size(yaml_scalar<std::string>(value, key.where, "a byte size"), key.where);
  };
}

// A name that `parse` must know (its message names the key); kept as text, parsed when used.
template <typename Parse>
YamlKeyReader name_value(std::optional<std::string>& out, const char* expected, Parse parse) {
  return [&out, expected, parse](const YAML::Node& value, const YamlKey& key) {
    out = yaml_scalar<std::string>(value, key.where, expected);
    parse(*out, key.where);
  };
}

// The `swa:` mapping's keys, in the order messages list them.
YamlKeyReaders swa_readers(RunConfig& c) {
  return {
      {"sparsity", yaml_value(c.swa_sparsity, "a number in [0, 1)")},
      {"window_max", yaml_value(c.swa_window_max, "an integer")},
      {"granularity", name_value(c.swa_granularity, "layer or head", parse_swa_granularity)},
      {"score", name_value(c.swa_score, "window, decay, history or recent", parse_swa_score)},
      {"min_tokens", yaml_value(c.swa_min_tokens, "an integer")},
      {"gamma", yaml_value(c.swa_gamma, "a number in (0, 1]")},
  };
}

// The run YAML's keys, in the order messages list them; paths resolved against `base`.
YamlKeyReaders run_config_readers(RunConfig& c, const std::filesystem::path& base) {
  return {
      {"model", path_value(c.model, base, "a folder or dummy:NAME")},
      {"prompts", path_value(c.prompts, base, "a path")},
      {"output", path_value(c.output, base, "a path")},
      {"tokenizer", path_value(c.tokenizer, base, "a path")},
      {"max_new_tokens", yaml_value(c.max_new_tokens, "an integer")},
      {"prompt_len", yaml_value(c.prompt_len, "an integer")},
      {"gen_len", yaml_value(c.gen_len, "an integer")},
      {"temperature", yaml_value(c.temperature, "a number")},
      {"top_p", yaml_value(c.top_p, "a number")},
      {"top_k", yaml_value(c.top_k, "an integer")},
      {"seed", yaml_value(c.seed, "a non-negative integer")},
      {"batch_size", yaml_value(c.batch_size, "an integer")},
      {"stop_at_eos", yaml_value(c.stop_at_eos, "true or false")},
      {"device", name_value(c.device, "cpu, gpu or auto", parse_device_choice)},
      {"dtype", name_value(c.dtype, "f16, bf16 or auto", parse_gpu_dtype_choice)},
      {"gpu_memory_limit", byte_size(c.gpu_memory_limit)},
      {"threads", yaml_value(c.threads, "an integer")},
      {"cpu_memory_limit", byte_size(c.cpu_memory_limit)},
      {"dummy_seed", yaml_value(c.dummy_seed, "a non-negative integer")},
      {"policy",
       [&c, base](const YAML::Node& value, const YamlKey& key) {
         const std::string policy = yaml_scalar<std::string>(value, key.where, "a path or auto");
         c.policy = policy == "auto" ? policy : resolve_path(base, policy);
       }},
      {"hardware", path_value(c.hardware, base, "a path")},
      {"allow_compression", yaml_value(c.allow_compression, "true or false")},
      {"offload_dir", path_value(c.offload_dir, base, "a folder")},
      {"swa",
       [&c](const YAML::Node& value, const YamlKey& key) {
         read_yaml_mapping(value,
                           {.where = key.where,
                            .expected = str("expected a mapping (keys: ", swa_config_keys(), ")"),
                            .key_details = false,
                            .value_where = key.where + " ",
                            .unique_keys = true},
                           swa_readers(c));
       }},
  };
}

}  // namespace

const char* run_config_keys() {
  static const std::string keys = [] {
    RunConfig config;
    return yaml_key_list(run_config_readers(config, {}));
  }();
  return keys.c_str();
}

const char* swa_config_keys() {
  static const std::string keys = [] {
    RunConfig config;
    return yaml_key_list(swa_readers(config));
  }();
  return keys.c_str();
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
  take(dtype, o.dtype);
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

std::string yaml_setting_name(const std::string& key) {
  return "'" + key + "'";
}

std::string flag_setting_name(const std::string& key) {
  std::string flag = "--" + key;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

void check_run_config(const RunConfig& c, const std::string& source, SettingName name) {
  const std::string at = source.empty() ? "" : source + ": ";
  if (c.threads) {
    ALISA_CHECK(*c.threads >= 1 && *c.threads <= kMaxThreads, at, name("threads"),
                " must be between 1 and ", kMaxThreads, " (leave it out for all cores), got ",
                *c.threads);
  }
  // 0 is not "no cap": leaving the setting out is.
  const std::pair<const char*, const std::optional<uint64_t>*> caps[] = {
      {"gpu_memory_limit", &c.gpu_memory_limit}, {"cpu_memory_limit", &c.cpu_memory_limit}};
  for (const auto& [key, cap] : caps) {
    ALISA_CHECK(!*cap || **cap > 0, at, name(key),
                " must be more than 0 bytes (leave it out for no cap)");
  }
  const std::pair<const char*, const std::optional<int64_t>*> counts[] = {
      {"batch_size", &c.batch_size},
      {"max_new_tokens", &c.max_new_tokens},
      {"prompt_len", &c.prompt_len},
      {"gen_len", &c.gen_len}};
  for (const auto& [key, count] : counts) {
    ALISA_CHECK(!*count || **count >= 1, at, name(key), " must be at least 1, got ", **count);
  }
}

RunConfig read_run_config(const YAML::Node& root, const std::string& where,
                          const std::filesystem::path& base) {
  RunConfig config;
  if (root.IsNull()) return config;
  read_yaml_mapping(
      root, {.where = where, .expected = "expected a mapping of settings", .unique_keys = true},
      run_config_readers(config, base));
  check_run_config(config, where, yaml_setting_name);
  swa_options(config, where);  // out-of-range swa values are named with the file
  return config;
}

RunConfig load_run_config(const std::filesystem::path& path) {
  const YAML::Node root = parse_yaml(read_yaml_file(path, "config"), path.string());
  return read_run_config(root, path.string(), path.parent_path());
}

nlohmann::json run_config_json(const RunConfig& c) {
  nlohmann::json out = nlohmann::json::object();
  auto put = [&out](const char* key, const auto& field) {
    if (field) out[key] = *field;
  };
  // A float as the decimal a person wrote (0.8, not 0.800000011920929).
  auto put_float = [&out](const char* key, const std::optional<float>& field) {
    if (!field) return;
    char text[32];
    std::snprintf(text, sizeof text, "%.7g", static_cast<double>(*field));
    out[key] = std::strtod(text, nullptr);
  };
  put("model", c.model);
  put("prompts", c.prompts);
  put("output", c.output);
  put("tokenizer", c.tokenizer);
  put("max_new_tokens", c.max_new_tokens);
  put("prompt_len", c.prompt_len);
  put("gen_len", c.gen_len);
  put_float("temperature", c.temperature);
  put_float("top_p", c.top_p);
  put("top_k", c.top_k);
  put("seed", c.seed);
  put("batch_size", c.batch_size);
  put("stop_at_eos", c.stop_at_eos);
  put("device", c.device);
  put("dtype", c.dtype);
  put("gpu_memory_limit", c.gpu_memory_limit);
  put("threads", c.threads);
  put("cpu_memory_limit", c.cpu_memory_limit);
  put("dummy_seed", c.dummy_seed);
  put("policy", c.policy);
  put("hardware", c.hardware);
  put("allow_compression", c.allow_compression);
  put("offload_dir", c.offload_dir);
  put("swa.sparsity", c.swa_sparsity);
  put("swa.window_max", c.swa_window_max);
  put("swa.granularity", c.swa_granularity);
  put("swa.score", c.swa_score);
  put("swa.min_tokens", c.swa_min_tokens);
  put("swa.gamma", c.swa_gamma);
  return out;
}

std::string run_config_yaml(const RunConfig& config) {
  YAML::Node root(YAML::NodeType::Map);
  const nlohmann::json settings = run_config_json(config);  // held: items() is a view of it
  for (const auto& [key, value] : settings.items()) {
    const size_t dot = key.find('.');
    // Numbers and booleans as JSON writes them (the shortest text that reads back exactly).
    const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    if (dot == std::string::npos) {
      root[key] = text;
    } else {
      root[key.substr(0, dot)][key.substr(dot + 1)] = text;
    }
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

}  // namespace alisa
