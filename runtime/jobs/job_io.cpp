#include "runtime/jobs/job_io.h"

#include <cerrno>
#include <iostream>

#include "runtime/base/common.h"
#include "runtime/base/input_files.h"
#include "runtime/base/json_limits.h"

namespace alisa {
namespace {

using Json = nlohmann::json;

std::ifstream open_input(const std::filesystem::path& path) {
  check_regular_file(path, "input file");
  std::ifstream in(path);
  ALISA_CHECK(in.good(), "cannot read ", path.string(), ": no such file or not readable");
  return in;
}

Json parse_line(const std::string& line, const std::string& where) {
  try {
    Json json = Json::parse(line, json_depth_limit());
    ALISA_CHECK(json.is_object(), where, ": expected a JSON object per line");
    return json;
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw Error(str(where, ": not valid JSON (", e.what(), ")"));
  }
}

std::vector<int32_t> int_list(const Json& value, const std::string& where, const char* key) {
  ALISA_CHECK(value.is_array(), where, ": '", key, "' must be a list of token ids");
  std::vector<int32_t> ids;
  ids.reserve(value.size());
  for (const Json& item : value) {
    ALISA_CHECK(
        item.is_number_integer() && item.get<int64_t>() >= 0 && item.get<int64_t>() <= INT32_MAX,
        where, ": '", key, "' must hold non-negative integers, found ", item.dump());
    ids.push_back(item.get<int32_t>());
  }
  return ids;
}

bool blank(const std::string& line) {
  return line.find_first_not_of(" \t\r\n") == std::string::npos;
}

}  // namespace

std::vector<std::string> read_texts(const std::filesystem::path& path) {
  std::ifstream in = open_input(path);
  std::vector<std::string> texts;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (blank(line)) continue;
    const std::string where = str(path.string(), ":", number);
    const Json json = parse_line(line, where);
    ALISA_CHECK(json.contains("text") && json["text"].is_string(), where,
                ": expected {\"text\": \"...\"}");
    texts.push_back(json["text"].get<std::string>());
  }
  return texts;
}

ForwardInput read_forward_input(const std::filesystem::path& path) {
  std::ifstream in = open_input(path);
  Json json;
  try {
    json = Json::parse(in, json_depth_limit());
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw Error(str(path.string(), ": not valid JSON (", e.what(), ")"));
  }
  ALISA_CHECK(json.is_object() && json.contains("input_ids") && json["input_ids"].is_array(),
              path.string(), ": expected an object with 'input_ids' (a list of lists)");
  ForwardInput input;
  const Json& rows = json["input_ids"];
  input.batch = static_cast<int64_t>(rows.size());
  ALISA_CHECK(input.batch > 0, path.string(), ": 'input_ids' is empty");
  const bool has_mask = json.contains("attention_mask");
  if (has_mask) {
    ALISA_CHECK(json["attention_mask"].is_array() && json["attention_mask"].size() == rows.size(),
                path.string(), ": 'attention_mask' must have one row per 'input_ids' row");
  }
  for (size_t b = 0; b < rows.size(); ++b) {
    const std::string where = str(path.string(), ": input_ids[", b, "]");
    std::vector<int32_t> ids = int_list(rows[b], where, "input_ids");
    if (b == 0) input.seq_len = static_cast<int64_t>(ids.size());
    ALISA_CHECK(static_cast<int64_t>(ids.size()) == input.seq_len && input.seq_len > 0, where,
                ": every row must have the same non-zero length (pad on the left)");
    input.input_ids.insert(input.input_ids.end(), ids.begin(), ids.end());
    if (has_mask) {
      const std::vector<int32_t> mask =
          int_list(json["attention_mask"][b], str(path.string(), ": attention_mask[", b, "]"),
                   "attention_mask");
      ALISA_CHECK(static_cast<int64_t>(mask.size()) == input.seq_len, path.string(),
                  ": attention_mask[", b, "] has ", mask.size(), " entries, input_ids has ",
                  input.seq_len);
      for (int32_t m : mask) {
        ALISA_CHECK(m == 0 || m == 1, path.string(), ": attention_mask holds 0 or 1 only");
        input.attention_mask.push_back(static_cast<uint8_t>(m));
      }
    } else {
      input.attention_mask.insert(input.attention_mask.end(), ids.size(), uint8_t{1});
    }
  }
  return input;
}

JsonlWriter::JsonlWriter(const std::filesystem::path& path) : path_(path), out_(&std::cout) {
  if (!path.empty() && path != "-") {
    file_ = std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc);
    ALISA_CHECK(file_->good(), "cannot write ", path.string(), ": ", errno_text(errno));
    out_ = file_.get();
  }
}

void JsonlWriter::write(const Json& record) {
  *out_ << record.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
  ALISA_CHECK(out_->good(), "writing ", path_.empty() ? "stdout" : path_.string(), " failed");
}

void JsonlWriter::close() {
  out_->flush();
  ALISA_CHECK(out_->good(), "writing ", path_.empty() ? "stdout" : path_.string(), " failed");
  if (file_) file_->close();
}

}  // namespace alisa
