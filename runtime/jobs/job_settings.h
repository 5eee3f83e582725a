// The settings a batch job's results depend on (model, sampling defaults, policy, SWA options,
// input, shard), recorded beside its output as OUT.settings.json, so that a resume with other
// settings is refused instead of mixing two jobs' lines in one file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace alisa {

std::filesystem::path settings_path(const std::filesystem::path& output);

// "key: recorded X, now Y" for every key that differs ("created" aside).
std::vector<std::string> settings_differences(const nlohmann::json& recorded,
                                              const nlohmann::json& now);

// A fresh job records `settings` with "created" (now, Unix seconds) and returns that time; a
// resumed one checks them against the recorded ones (an Error naming what differs) and returns
// the recorded time.
int64_t record_settings(const std::filesystem::path& output, nlohmann::json settings, bool resume);

}  // namespace alisa
