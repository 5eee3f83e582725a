#include "runtime/jobs/experiment_results.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "runtime/base/common.h"

namespace alisa {
namespace {

using Json = nlohmann::json;

void flatten(const Json& value, const std::string& prefix, nlohmann::ordered_json& row) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) flatten(item, prefix + "." + key, row);
  } else if (!value.is_array()) {
    row[prefix] = value;
  }
}

// A CSV field: quoted when it holds a comma, a quote or a line break.
std::string csv_field(const nlohmann::ordered_json& value) {
  if (value.is_null()) return "";
  const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

std::string result_key(const Json& settings, const Json& measure) {
  return Json{settings, measure}.dump();
}

std::map<std::string, Json> read_results(const std::filesystem::path& path) {
  std::map<std::string, Json> records;
  std::ifstream in(path, std::ios::binary);
  if (!in) return records;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t start = 0;
  size_t line_number = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    ++line_number;
    if (end == std::string::npos) {
      // Torn: the last record was being written. Cut it; its point runs again.
      std::filesystem::resize_file(path, start);
      break;
    }
    const Json record = Json::parse(text.substr(start, end - start), nullptr, false);
    ALISA_CHECK(record.is_object() && record.contains("settings") && record.contains("measure"),
                path.string(), ": line ", line_number,
                " is not an experiment record (move the file away to start over)");
    records[result_key(record["settings"], record["measure"])] = record;
    start = end + 1;
  }
  return records;
}

void append_result(const std::filesystem::path& path, const Json& record) {
  const std::string line = record.dump() + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  ALISA_CHECK(fd >= 0, "cannot open ", path.string(), " to append a result");
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  ALISA_CHECK(written && synced, "cannot write a result to ", path.string());
}

nlohmann::ordered_json result_row(const Json& record) {
  nlohmann::ordered_json row = nlohmann::ordered_json::object();
  row["point"] = record.value("point", Json());
  for (const auto& [key, value] : record["settings"].items()) row[key] = value;
  for (const auto& [name, options] : record["measure"].items()) {
    if (record.contains(name)) flatten(record[name], name, row);
  }
  row["error"] = record.value("error", std::string());
  return row;
}

void write_results_csv(const std::filesystem::path& path,
                       const std::vector<nlohmann::ordered_json>& rows) {
  std::vector<std::string> columns;
  std::set<std::string> seen;
  for (const nlohmann::ordered_json& row : rows) {
    for (const auto& [key, value] : row.items()) {
      if (seen.insert(key).second) columns.push_back(key);
    }
  }
  std::ofstream out(path, std::ios::trunc);
  for (size_t c = 0; c < columns.size(); ++c) out << (c ? "," : "") << csv_field(columns[c]);
  out << "\n";
  for (const nlohmann::ordered_json& row : rows) {
    for (size_t c = 0; c < columns.size(); ++c) {
      out << (c ? "," : "") << (row.contains(columns[c]) ? csv_field(row[columns[c]]) : "");
    }
    out << "\n";
  }
  out.close();
  ALISA_CHECK(out.good(), "cannot write ", path.string());
}

}  // namespace alisa
