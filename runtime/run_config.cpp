#include "runtime/run_config.h"

#include <yaml-cpp/yaml.h>

#include "policy/yaml_scalar.h"
#include "runtime/backend.h"
#include "runtime/common.h"
#include "runtime/units.h"

namespace alisa {
namespace {

std::string resolve_path(const std::filesystem::path& base, const std::string& value) {
  if (value.rfind("dummy:", 0) == 0 || value == "-") return value;
  const std::filesystem::path path(value);
  return path.is_absolute() ? value : (base / path).lexically_normal().string();
}

}  // namespace

const char* run_config_keys() {
  return "model, prompts, output, tokenizer, max_new_tokens, prompt_len, gen_len, temperature, "
         "top_p, top_k, seed, "
         "batch_size, stop_at_eos, device, gpu_memory_limit, threads, cpu_memory_limit, "
         "dummy_seed, "
         "policy, offload_dir";
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
  take(offload_dir, o.offload_dir);
}

RunConfig load_run_config(const std::filesystem::path& path) {
  ALISA_CHECK(std::filesystem::is_regular_file(path), "config ", path.string(), " does not exist");
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    throw Error(str(path.string(), ": not valid YAML (line ", e.mark.line + 1, ": ", e.msg, ")"));
  }
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
      config.policy = resolve_path(base, yaml_scalar<std::string>(value, where, "a path"));
    } else if (key == "offload_dir") {
      config.offload_dir = resolve_path(base, yaml_scalar<std::string>(value, where, "a folder"));
    } else {
      throw Error(str(path.string(), ": unknown key '", key, "' (known: ", run_config_keys(), ")"));
    }
  }
  return config;
}

}  // namespace alisa
