// The run YAML (`--config RUN.yaml`): the settings of a generate job. Unknown keys are errors.
// Relative paths in the file are resolved against the file's folder; flags override the file.
#pragma once

#include <yaml-cpp/yaml.h>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "runtime/program/swa.h"

namespace alisa {

struct RunConfig {
  std::optional<std::string> model;      // checkpoint folder or dummy:NAME
  std::optional<std::string> prompts;    // JSONL
  std::optional<std::string> output;     // JSONL; stdout when absent
  std::optional<std::string> tokenizer;  // tokenizer.json for dummy models
  std::optional<int64_t> max_new_tokens;
  std::optional<int64_t> prompt_len;  // bench: synthetic prompt length
  std::optional<int64_t> gen_len;     // bench: tokens generated per sequence
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int32_t> top_k;
  std::optional<uint64_t> seed;
  std::optional<int64_t> batch_size;
  std::optional<bool> stop_at_eos;
  std::optional<int32_t> threads;
  std::optional<std::string> device;         // cpu | gpu | auto
  std::optional<std::string> dtype;          // the GPU engine's: f16 | bf16 | auto
  std::optional<uint64_t> gpu_memory_limit;  // bytes
  std::optional<uint64_t> cpu_memory_limit;  // bytes
  std::optional<uint64_t> dummy_seed;
  std::optional<std::string> policy;       // policy YAML (configs/policies/...), or "auto"
  std::optional<std::string> hardware;     // calibrated profile (configs/hardware/...)
  std::optional<bool> allow_compression;   // policy: auto may compress weights and cache
  std::optional<std::string> offload_dir;  // the disk tier's folder
  // Sparse Window Attention (the `swa:` mapping; runtime/swa.h).
  std::optional<double> swa_sparsity;
  std::optional<int64_t> swa_window_max;
  std::optional<std::string> swa_granularity;
  std::optional<std::string> swa_score;
  std::optional<int64_t> swa_min_tokens;
  std::optional<double> swa_gamma;

  // Fields set in `overrides` replace this config's.
  void merge(const RunConfig& overrides);
};

RunConfig load_run_config(const std::filesystem::path& path);
// A run YAML's mapping already parsed (an experiment's point): messages open with `where`,
// relative paths are resolved against `base`; the same checks as load_run_config.
RunConfig read_run_config(const YAML::Node& root, const std::string& where,
                          const std::filesystem::path& base);

// The keys the config sets, flat and dotted ("swa.sparsity"): what a run was given, for records.
// Byte sizes are bytes; floats the decimal a person wrote.
nlohmann::json run_config_json(const RunConfig& config);
// The same as the text of a run YAML (the `swa:` keys nested) that load_run_config reads back.
std::string run_config_yaml(const RunConfig& config);

// The most CPU threads a run may ask for: far more than any machine alisa runs on has cores, and
// few enough that thread creation does not fail inside a library (which crashed the process).
constexpr int32_t kMaxThreads = 1024;

// The range of every setting `config` sets that no reader checks by its type alone (threads in
// [1, kMaxThreads], memory caps above 0, positive batch size and token counts): an alisa::Error
// naming the setting as `name` gives it (the YAML key in the file, or the flag).
using SettingName = std::string (*)(const std::string& key);
void check_run_config(const RunConfig& config, const std::string& source, SettingName name);
std::string yaml_setting_name(const std::string& key);  // "'threads'"
std::string flag_setting_name(const std::string& key);  // "--threads"

// The keys a run YAML accepts, for messages and docs.
const char* run_config_keys();
const char* swa_config_keys();

// The SWA options the config sets (defaults elsewhere), validated; errors name `source`.
SwaOptions swa_options(const RunConfig& config, const std::string& source);

}  // namespace alisa
