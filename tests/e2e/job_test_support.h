// What the batch-job tests share: a job on the opt-code demo model, its output's lines, and the
// alisa binary started in the background (to be killed).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace alisa::test {

// The output's lines, each checked to be whole (the file ends in '\n') and a JSON object.
std::vector<std::string> whole_lines(const std::filesystem::path& path);
// The lines sorted: outputs come in completion order.
std::vector<std::string> sorted_lines(const std::filesystem::path& path);
// The records by id (alisa's "id" or OpenAI's "custom_id", dumped).
std::map<std::string, nlohmann::json> records_by_id(const std::filesystem::path& path);

// Starts alisa with `args` (split on spaces; no quoting) in the background, stderr to
// `stderr_path`; returns its pid.
pid_t spawn_alisa(const std::string& args, const std::filesystem::path& stderr_path);
// Waits for it: the exit status, or 128 + the signal that ended it.
int wait_alisa(pid_t pid);

}  // namespace alisa::test

namespace alisa::test {

// Checks `value` against a JSON Schema of the keywords type (one or a list), enum, required,
// properties, additionalProperties (false) and items; returns "where: what" per violation.
std::vector<std::string> schema_violations(const nlohmann::json& value,
                                           const nlohmann::json& schema,
                                           const std::string& where = "$");

}  // namespace alisa::test
