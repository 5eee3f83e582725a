#include "runtime/jobs/job_settings.h"

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>

#include "runtime/base/common.h"
#include "runtime/base/json_limits.h"

namespace alisa {

using Json = nlohmann::json;

std::filesystem::path settings_path(const std::filesystem::path& output) {
  return output.string() + ".settings.json";
}

std::vector<std::string> settings_differences(const Json& recorded, const Json& now) {
  std::vector<std::string> out;
  Json keys = Json::object();
  for (const auto& [key, value] : recorded.items()) keys[key] = true;
  for (const auto& [key, value] : now.items()) keys[key] = true;
  for (const auto& [key, unused] : keys.items()) {
    if (key == "created") continue;
    const Json a = recorded.value(key, Json());
    const Json b = now.value(key, Json());
    if (a != b) out.push_back(str(key, ": recorded ", a.dump(), ", now ", b.dump()));
  }
  return out;
}

int64_t record_settings(const std::filesystem::path& output, Json settings, bool resume) {
  const std::filesystem::path path = settings_path(output);
  if (resume) {
    std::ifstream in(path);
    ALISA_CHECK(in.good(), output.string(), " exists but ", path.string(),
                " does not: it was not written by an alisa job (--overwrite starts over)");
    std::ostringstream text;
    text << in.rdbuf();
    const Json recorded = try_parse_json(text.str());
    ALISA_CHECK(recorded.is_object(), path.string(), " is not JSON (--overwrite starts over)");
    const std::vector<std::string> differences = settings_differences(recorded, settings);
    if (!differences.empty()) {
      std::string list;
      for (const std::string& d : differences) list += (list.empty() ? "" : "; ") + d;
      throw Error(str(output.string(), " was written with other settings (", list,
                      "): run with the recorded settings to resume, or --overwrite to start over"));
    }
    return recorded.value("created", int64_t{0});
  }
  settings["created"] = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  // Written whole or not at all: a temporary file renamed over the old one.
  const std::filesystem::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    ALISA_CHECK(out.is_open(), "cannot write ", temporary.string(), ": ", errno_text(errno));
    out << settings.dump(2) << "\n";
    out.flush();
    ALISA_CHECK(out.good(), "cannot write ", temporary.string(), ": ", errno_text(errno));
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  ALISA_CHECK(!error, "cannot write ", path.string(), ": ", error.message());
  return settings["created"].get<int64_t>();
}

}  // namespace alisa
