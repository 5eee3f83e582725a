#include "tests/e2e/job_test_support.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <sstream>

#include "tests/test_support.h"

namespace alisa::test {

std::vector<std::string> whole_lines(const std::filesystem::path& path) {
  const std::string text = read_text(path);
  REQUIRE((text.empty() || text.back() == '\n'));
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    INFO(path.string() << ": " << line);
    REQUIRE(record.is_object());
    lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> sorted_lines(const std::filesystem::path& path) {
  std::vector<std::string> lines = whole_lines(path);
  std::sort(lines.begin(), lines.end());
  return lines;
}

std::map<std::string, nlohmann::json> records_by_id(const std::filesystem::path& path) {
  std::map<std::string, nlohmann::json> records;
  for (const std::string& line : whole_lines(path)) {
    const nlohmann::json record = nlohmann::json::parse(line);
    const std::string id =
        (record.contains("custom_id") ? record["custom_id"] : record["id"]).dump();
    INFO(path.string() << ": id " << id);
    REQUIRE(records.emplace(id, record).second);
  }
  return records;
}

pid_t spawn_alisa(const std::string& args, const std::filesystem::path& stderr_path) {
  const char* override_binary = std::getenv("ALISA_BINARY");
  std::vector<std::string> words = {override_binary != nullptr ? override_binary : ALISA_BINARY};
  std::istringstream in(args);
  for (std::string word; in >> word;) words.push_back(word);
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = ::open("/dev/null", O_WRONLY);
    if (err < 0 || null < 0) _exit(127);
    dup2(null, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int wait_alisa(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace alisa::test

namespace alisa::test {
namespace {

bool has_type(const nlohmann::json& value, const std::string& type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  throw std::runtime_error("schema: unknown type " + type);
}

}  // namespace

std::vector<std::string> schema_violations(const nlohmann::json& value,
                                           const nlohmann::json& schema, const std::string& where) {
  std::vector<std::string> out;
  if (schema.contains("enum")) {
    const auto& options = schema["enum"];
    if (std::find(options.begin(), options.end(), value) == options.end()) {
      out.push_back(where + ": " + value.dump() + " is not one of " + options.dump());
    }
  }
  if (schema.contains("type")) {
    const nlohmann::json types =
        schema["type"].is_array() ? schema["type"] : nlohmann::json::array({schema["type"]});
    bool any = false;
    for (const auto& type : types) any = any || has_type(value, type.get<std::string>());
    if (!any) out.push_back(where + ": " + value.dump() + " is not of type " + types.dump());
  }
  if (value.is_object()) {
    for (const auto& key : schema.value("required", nlohmann::json::array())) {
      if (!value.contains(key.get<std::string>()))
        out.push_back(where + ": no '" + key.get<std::string>() + "'");
    }
    const nlohmann::json properties = schema.value("properties", nlohmann::json::object());
    for (const auto& [key, item] : value.items()) {
      if (properties.contains(key)) {
        const auto inner = schema_violations(item, properties[key], where + "." + key);
        out.insert(out.end(), inner.begin(), inner.end());
      } else if (schema.value("additionalProperties", true) == false) {
        out.push_back(where + ": unexpected '" + key + "'");
      }
    }
  }
  if (value.is_array() && schema.contains("items")) {
    for (size_t i = 0; i < value.size(); ++i) {
      const auto inner =
          schema_violations(value[i], schema["items"], where + "[" + std::to_string(i) + "]");
      out.insert(out.end(), inner.begin(), inner.end());
    }
  }
  return out;
}

}  // namespace alisa::test
