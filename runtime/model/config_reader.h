// ConfigReader: typed access to the keys of a Hugging Face JSON config (config.json,
// generation_config.json, a rope_parameters object), with errors naming the file and the key.
// A key set to null counts as absent, as Hugging Face's configs write null for "not set".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace alisa {

class ConfigReader {
 public:
  using Json = nlohmann::json;

  // `json` must outlive the reader; `source` names it in errors.
  ConfigReader(const Json& json, std::string source) : json_(json), source_(std::move(source)) {}

  // Parses `text` (throws alisa::Error naming `source` when it is not a JSON object).
  static Json parse_object(const std::string& text, const std::string& source);

  bool has(const char* key) const { return json_.contains(key) && !json_[key].is_null(); }
  // Whether the key is written at all, null included (where null and absent differ).
  bool written(const char* key) const { return json_.contains(key); }

  int64_t integer(const char* key) const;
  int64_t integer(const char* key, int64_t fallback) const;
  int64_t positive(const char* key) const;
  double number(const char* key, double fallback) const;
  bool boolean(const char* key, bool fallback) const;
  std::string string(const char* key, const std::string& fallback) const;
  // A list of strings (empty when absent).
  std::vector<std::string> strings(const char* key) const;
  // A token id, or a list of them (eos_token_id may be either); empty when absent.
  std::vector<int32_t> token_ids(const char* key) const;
  // One token id (pad_token_id, bos_token_id): -1 when absent or negative (none); an error when it
  // is not below `vocab_size`.
  int32_t token_id(const char* key, int64_t vocab_size) const;
  // A nested object, or nullptr when absent.
  const Json* object(const char* key) const;
  const std::string& source() const { return source_; }

 private:
  int64_t integer_value(const Json& value, const char* key) const;
  // A token id's value: an error when it does not fit int32 (it would be silently truncated).
  int32_t id_value(const Json& value, const char* key) const;

  const Json& json_;
  std::string source_;
};

}  // namespace alisa
