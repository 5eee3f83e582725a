#include "runtime/model/config_reader.h"

#include <algorithm>
#include <limits>

#include "runtime/base/common.h"
#include "runtime/base/json_limits.h"

namespace alisa {

ConfigReader::Json ConfigReader::parse_object(const std::string& text, const std::string& source) {
  Json json;
  try {
    json = Json::parse(text, json_depth_limit());
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw Error(str(source, ": not valid JSON: ", e.what()));
  }
  ALISA_CHECK(json.is_object(), source, ": expected a JSON object");
  return json;
}

int64_t ConfigReader::integer(const char* key) const {
  ALISA_CHECK(has(key), source_, ": missing key '", key, "'");
  return integer_value(json_[key], key);
}

int64_t ConfigReader::integer(const char* key, int64_t fallback) const {
  return has(key) ? integer_value(json_[key], key) : fallback;
}

int64_t ConfigReader::positive(const char* key) const {
  const int64_t value = integer(key);
  ALISA_CHECK(value > 0, source_, ": '", key, "' must be positive, got ", value);
  // Sizes and counts far past any model's (hidden 16384, vocabulary 256k, 128k positions) are
  // refused before anything is sized by them.
  constexpr int64_t kLargest = int64_t{1} << 24;
  ALISA_CHECK(value <= kLargest, source_, ": '", key, "' ", value,
              " is beyond any model's (at most ", kLargest, ")");
  return value;
}

double ConfigReader::number(const char* key, double fallback) const {
  if (!has(key)) return fallback;
  ALISA_CHECK(json_[key].is_number(), source_, ": '", key, "' must be a number");
  return json_[key].get<double>();
}

bool ConfigReader::boolean(const char* key, bool fallback) const {
  if (!has(key)) return fallback;
  ALISA_CHECK(json_[key].is_boolean(), source_, ": '", key, "' must be true or false");
  return json_[key].get<bool>();
}

std::string ConfigReader::string(const char* key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  ALISA_CHECK(json_[key].is_string(), source_, ": '", key, "' must be a string");
  return json_[key].get<std::string>();
}

std::vector<std::string> ConfigReader::strings(const char* key) const {
  std::vector<std::string> out;
  if (!has(key)) return out;
  ALISA_CHECK(json_[key].is_array(), source_, ": '", key, "' must be a list of strings");
  for (const Json& item : json_[key]) {
    ALISA_CHECK(item.is_string(), source_, ": '", key, "' must be a list of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::vector<int32_t> ConfigReader::token_ids(const char* key) const {
  std::vector<int32_t> ids;
  if (!has(key)) return ids;
  const Json& value = json_[key];
  if (value.is_array()) {
    for (const Json& item : value) ids.push_back(id_value(item, key));
  } else {
    ids.push_back(id_value(value, key));
  }
  return ids;
}

int32_t ConfigReader::token_id(const char* key, int64_t vocab_size) const {
  if (!has(key)) return -1;
  const int32_t id = id_value(json_[key], key);
  ALISA_CHECK(id < vocab_size, source_, ": ", key, " ", id, " is outside the vocabulary of ",
              vocab_size);
  return std::max(id, -1);
}

int32_t ConfigReader::id_value(const Json& value, const char* key) const {
  const int64_t id = integer_value(value, key);
  ALISA_CHECK(
      id >= std::numeric_limits<int32_t>::min() && id <= std::numeric_limits<int32_t>::max(),
      source_, ": ", key, " ", id, " is not a token id (beyond 32-bit integers)");
  return static_cast<int32_t>(id);
}

const ConfigReader::Json* ConfigReader::object(const char* key) const {
  if (!has(key)) return nullptr;
  ALISA_CHECK(json_[key].is_object(), source_, ": '", key, "' must be an object");
  return &json_[key];
}

int64_t ConfigReader::integer_value(const Json& value, const char* key) const {
  ALISA_CHECK(value.is_number_integer(), source_, ": '", key, "' must be an integer");
  return value.get<int64_t>();
}

}  // namespace alisa
