#include "runtime/jobs/job_requests.h"

#include <limits>

#include "runtime/base/common.h"
#include "runtime/base/input_files.h"
#include "runtime/base/json_limits.h"

namespace alisa {
namespace {

using Json = nlohmann::json;

// A bad line: caught in parse_job_line and turned into the line's error.
struct LineError {
  std::string code;
  std::string message;
};

[[noreturn]] void bad(const std::string& message, const std::string& code = "invalid_request") {
  throw LineError{code, message};
}

int64_t integer(const Json& value, const std::string& key, int64_t min, int64_t max) {
  if (!value.is_number_integer()) bad(str("'", key, "' must be an integer, got ", value.dump()));
  const int64_t v = value.get<int64_t>();
  if (v < min || v > max) bad(str("'", key, "' must be in [", min, ", ", max, "], got ", v));
  return v;
}

float number(const Json& value, const std::string& key) {
  if (!value.is_number()) bad(str("'", key, "' must be a number, got ", value.dump()));
  return value.get<float>();
}

std::vector<int32_t> token_ids(const Json& value, const std::string& key) {
  std::vector<int32_t> ids;
  for (const Json& item : value) {
    ids.push_back(static_cast<int32_t>(integer(item, key, 0, std::numeric_limits<int32_t>::max())));
  }
  return ids;
}

std::vector<std::string> stop_strings(const Json& value) {
  std::vector<std::string> stop;
  if (value.is_null()) return stop;
  if (value.is_string()) {
    stop.push_back(value.get<std::string>());
  } else if (value.is_array()) {
    for (const Json& item : value) {
      if (!item.is_string()) bad("'stop' must be a string or a list of strings");
      stop.push_back(item.get<std::string>());
    }
  } else {
    bad("'stop' must be a string or a list of strings");
  }
  for (const std::string& s : stop) {
    if (s.empty()) bad("'stop' strings must not be empty");
  }
  return stop;
}

// The settings keys both formats share; false when `key` is not one of them.
bool setting(const std::string& key, const Json& value, RequestSettings& s) {
  if (key == "max_tokens") {
    if (!value.is_null())
      s.max_tokens = integer(value, key, 1, std::numeric_limits<int32_t>::max());
  } else if (key == "temperature") {
    if (!value.is_null()) s.temperature = number(value, key);
    if (s.temperature && *s.temperature < 0) bad("'temperature' must be >= 0");
  } else if (key == "top_p") {
    if (!value.is_null()) s.top_p = number(value, key);
    if (s.top_p && !(*s.top_p > 0 && *s.top_p <= 1)) bad("'top_p' must be in (0, 1]");
  } else if (key == "top_k") {
    // -1 is vLLM's "off", as 0 is alisa's.
    if (!value.is_null()) {
      const int64_t k = integer(value, key, -1, std::numeric_limits<int32_t>::max());
      s.top_k = static_cast<int32_t>(std::max<int64_t>(k, 0));
    }
  } else if (key == "seed") {
    if (!value.is_null()) {
      s.seed = static_cast<uint64_t>(integer(value, key, std::numeric_limits<int64_t>::min(),
                                             std::numeric_limits<int64_t>::max()));
    }
  } else if (key == "stop") {
    s.stop = stop_strings(value);
  } else if (key == "logprobs") {
    if (!value.is_null()) s.logprobs = static_cast<int32_t>(integer(value, key, 0, 20));
  } else {
    return false;
  }
  return true;
}

void parse_alisa(const Json& json, JobLine& line) {
  // Without an id, the line number names the line (and its record) for resume.
  line.id = json.contains("id") && !json["id"].is_null() ? json["id"] : Json(line.line);
  for (const auto& [key, value] : json.items()) {
    if (key == "id") continue;
    if (key == "prompt") {
      if (!value.is_string()) bad("'prompt' must be a string");
      line.text = value.get<std::string>();
    } else if (key == "prompt_ids") {
      if (!value.is_array()) bad("'prompt_ids' must be a list of token ids");
      line.ids = token_ids(value, "prompt_ids");
    } else if (!setting(key, value, line.settings)) {
      bad(str("unknown key '", key,
              "' (expected id, prompt or prompt_ids, max_tokens, temperature, top_p, top_k, seed, "
              "stop, logprobs)"));
    }
  }
  if (line.text.has_value() == line.ids.has_value())
    bad("give exactly one of 'prompt' and 'prompt_ids'");
}

// Parameters OpenAI's /v1/completions takes that alisa accepts only at their neutral value.
bool neutral(const std::string& key, const Json& value) {
  if (key == "n" || key == "best_of") return value.is_null() || value == 1;
  if (key == "echo" || key == "stream") return value.is_null() || value == false;
  if (key == "presence_penalty" || key == "frequency_penalty") return value.is_null() || value == 0;
  if (key == "logit_bias") return value.is_null() || (value.is_object() && value.empty());
  if (key == "suffix") return value.is_null() || value == "";
  return false;
}

void parse_openai(const Json& json, JobLine& line) {
  if (!json.contains("custom_id") || !json["custom_id"].is_string())
    bad("'custom_id' must be a string");
  line.id = json["custom_id"];
  for (const auto& [key, value] : json.items()) {
    if (key != "custom_id" && key != "method" && key != "url" && key != "body")
      bad(str("unknown key '", key, "' (expected custom_id, method, url, body)"));
  }
  if (json.value("method", Json()) != "POST") bad("'method' must be \"POST\"");
  const Json url = json.value("url", Json());
  if (url == "/v1/chat/completions") {
    bad("/v1/chat/completions is not supported: alisa does not render chat templates; send "
        "the rendered prompt to /v1/completions",
        "unsupported_url");
  }
  if (url != "/v1/completions")
    bad(str("'url' ", url.dump(), " is not supported (/v1/completions is)"), "unsupported_url");
  if (!json.contains("body") || !json["body"].is_object()) bad("'body' must be an object");
  for (const auto& [key, value] : json["body"].items()) {
    if (key == "model") {
      if (!value.is_string()) bad("'model' must be a string");
      line.model = value.get<std::string>();
    } else if (key == "prompt") {
      if (value.is_string()) {
        line.text = value.get<std::string>();
      } else if (value.is_array() && value.size() == 1 && value[0].is_string()) {
        line.text = value[0].get<std::string>();
      } else if (value.is_array() && !value.empty() && value[0].is_number()) {
        line.ids = token_ids(value, "prompt");
      } else {
        bad("'prompt' must be a string or a list of token ids (one prompt per line)");
      }
    } else if (key == "user") {
      continue;
    } else if (neutral(key, value)) {
      continue;
    } else if (!setting(key, value, line.settings)) {
      bad(str("unsupported parameter '", key, "'"));
    }
  }
  if (!line.text && !line.ids) bad("'body' has no 'prompt'");
}

}  // namespace

JobLine parse_job_line(const std::string& text, int64_t number, JobFormat format) {
  JobLine line;
  line.line = number;
  Json json;
  try {
    json = Json::parse(text, json_depth_limit());
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    line.error_code = "invalid_json";
    line.error = str("not valid JSON (", e.what(), ")");
    return line;
  }
  try {
    if (!json.is_object()) bad("expected a JSON object per line", "invalid_json");
    if (format == JobFormat::kAlisa) {
      parse_alisa(json, line);
    } else {
      // The id first, so that the error record names it.
      if (json.contains("custom_id") && json["custom_id"].is_string()) line.id = json["custom_id"];
      parse_openai(json, line);
    }
  } catch (const LineError& e) {
    line.error_code = e.code;
    line.error = e.message;
  }
  return line;
}

uint64_t id_hash(const nlohmann::json& id) {
  const std::string text = id.dump();
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (const char c : text) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

Shard parse_shard(const std::string& text) {
  Shard shard;
  const size_t slash = text.find('/');
  try {
    ALISA_CHECK(slash != std::string::npos, "");
    size_t used = 0;
    shard.index = std::stoll(text.substr(0, slash), &used);
    ALISA_CHECK(used == slash, "");
    shard.count = std::stoll(text.substr(slash + 1), &used);
    ALISA_CHECK(used == text.size() - slash - 1, "");
  } catch (const std::exception&) {
    throw Error(str("--shard '", text, "' must be K/N (for example 2/8)"));
  }
  ALISA_CHECK(shard.count >= 1 && shard.index >= 1 && shard.index <= shard.count, "--shard '", text,
              "' needs 1 <= K <= N");
  return shard;
}

JobReader::JobReader(const std::filesystem::path& path, Shard shard)
    : path_((check_regular_file(path, "prompts file"), path)), in_(path), shard_(shard) {
  ALISA_CHECK(in_.good(), "cannot read ", path.string(), ": no such file or not readable");
  // The format is the first JSON object's (a torn first line says nothing): OpenAI's lines have
  // a custom_id.
  std::string text;
  while (std::getline(in_, text)) {
    const Json first = try_parse_json(text);
    if (!first.is_object()) continue;
    if (first.contains("custom_id")) format_ = JobFormat::kOpenAi;
    break;
  }
  in_.clear();
  in_.seekg(0);
}

bool JobReader::next(JobLine& line) {
  std::string text;
  while (std::getline(in_, text)) {
    ++number_;
    if (text.find_first_not_of(" \t\r\n") == std::string::npos || !shard_.has(number_)) continue;
    line = parse_job_line(text, number_, format_);
    return true;
  }
  ALISA_CHECK(in_.eof(), "reading ", path_.string(), " failed at line ", number_ + 1);
  return false;
}

}  // namespace alisa
