#include "runtime/text/pipeline_json.h"

#include <string>
#include <utility>

#include "runtime/base/common.h"
#include "runtime/text/regex.h"
#include "runtime/text/unicode_classes.h"

namespace alisa::text {
namespace {

constexpr const char* kNormalizers = "Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD";
constexpr const char* kPreTokenizers = "Sequence, ByteLevel, Split, Metaspace";
constexpr const char* kDecoders =
    "Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace";

[[noreturn]] void refuse_type(const JsonReader& reader, const std::string& path,
                              std::string_view component, const std::string& type,
                              const char* supported) {
  reader.fail(path + ".type",
              str(component, " '", type, "' is not supported (supported: ", supported, ")"));
}

// {"String": "..."} or {"Regex": "..."}, at `path`.pattern.
TextPattern read_pattern(const JsonReader& reader, const Json& json, const std::string& path) {
  const std::string pattern_path = path + ".pattern";
  const Json& pattern = reader.require_object(json, path, "pattern");
  if (pattern.size() == 1) {
    if (const Json* literal = reader.find(pattern, pattern_path, "String")) {
      std::string text = reader.string_value(*literal, pattern_path + ".String");
      if (text.empty()) reader.fail(pattern_path + ".String", "an empty pattern is not supported");
      return TextPattern::literal(std::move(text));
    }
    if (const Json* regex = reader.find(pattern, pattern_path, "Regex")) {
      const std::string text = reader.string_value(*regex, pattern_path + ".Regex");
      try {
        return TextPattern::regex(Regex::compile(text));
      } catch (const Error& error) {
        reader.fail(pattern_path + ".Regex", error.what());
      }
    }
  }
  reader.fail(pattern_path, "expected {\"String\": ...} or {\"Regex\": ...}");
}

// Metaspace's prepend_scheme, with the older add_prefix_space read as Hugging Face reads it.
PrependScheme read_prepend_scheme(const JsonReader& reader, const Json& json,
                                  const std::string& path) {
  PrependScheme scheme = PrependScheme::kAlways;
  if (const auto name = reader.optional_string(json, path, "prepend_scheme")) {
    if (*name == "first") {
      scheme = PrependScheme::kFirst;
    } else if (*name == "never") {
      scheme = PrependScheme::kNever;
    } else if (*name != "always") {
      reader.fail(path + ".prepend_scheme",
                  str("'", *name, "' is not a prepend scheme (first, always, never)"));
    }
  }
  if (!reader.bool_or(json, path, "add_prefix_space", true)) {
    if (scheme != PrependScheme::kNever) {
      reader.fail(path + ".add_prefix_space", "false does not match the prepend_scheme");
    }
  }
  return scheme;
}

// A Sequence component: `add(item, item_path)` for each item of its `key` list.
template <typename Add>
void for_each_in_sequence(const JsonReader& reader, const Json& json, const std::string& path,
                          const char* key, const Add& add) {
  const Json& list = reader.require_array(json, path, key);
  const std::string list_path = path + "." + key;
  for (size_t i = 0; i < list.size(); ++i) add(list[i], at_index(list_path, i));
}

void add_normalizer(const JsonReader& reader, const Json& json, const std::string& path,
                    Normalizer& out) {
  const std::string type = reader.component_type(json, path);
  if (type == "Sequence") {
    for_each_in_sequence(
        reader, json, path, "normalizers",
        [&](const Json& item, const std::string& at) { add_normalizer(reader, item, at, out); });
  } else if (type == "Prepend") {
    out.steps.emplace_back(PrependNormalizer{reader.require_string(json, path, "prepend")});
  } else if (type == "Replace") {
    out.steps.emplace_back(ReplaceNormalizer{read_pattern(reader, json, path),
                                             reader.require_string(json, path, "content")});
  } else if (type == "NFC") {
    out.steps.emplace_back(UnicodeNormalizer{unicode::NormalForm::kNfc});
  } else if (type == "NFD") {
    out.steps.emplace_back(UnicodeNormalizer{unicode::NormalForm::kNfd});
  } else if (type == "NFKC") {
    out.steps.emplace_back(UnicodeNormalizer{unicode::NormalForm::kNfkc});
  } else if (type == "NFKD") {
    out.steps.emplace_back(UnicodeNormalizer{unicode::NormalForm::kNfkd});
  } else {
    refuse_type(reader, path, "normalizer", type, kNormalizers);
  }
}

SplitBehavior read_behavior(const JsonReader& reader, const Json& json, const std::string& path) {
  const std::string name = reader.require_string(json, path, "behavior");
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  reader.fail(path + ".behavior",
              str("'", name,
                  "' is not a split behavior (Removed, Isolated, MergedWithPrevious, "
                  "MergedWithNext, Contiguous)"));
}

void add_pre_tokenizer(const JsonReader& reader, const Json& json, const std::string& path,
                       PreTokenizer& out) {
  const std::string type = reader.component_type(json, path);
  if (type == "Sequence") {
    for_each_in_sequence(
        reader, json, path, "pretokenizers",
        [&](const Json& item, const std::string& at) { add_pre_tokenizer(reader, item, at, out); });
  } else if (type == "ByteLevel") {
    out.steps.emplace_back(ByteLevelPreTokenizer{
        .add_prefix_space = reader.bool_or(json, path, "add_prefix_space", true),
        .use_regex = reader.bool_or(json, path, "use_regex", true)});
  } else if (type == "Split") {
    out.steps.emplace_back(SplitPreTokenizer{.pattern = read_pattern(reader, json, path),
                                             .behavior = read_behavior(reader, json, path),
                                             .invert = reader.require_bool(json, path, "invert")});
  } else if (type == "Metaspace") {
    out.steps.emplace_back(
        MetaspacePreTokenizer{.replacement = reader.require_character(json, path, "replacement"),
                              .prepend_scheme = read_prepend_scheme(reader, json, path),
                              .split = reader.bool_or(json, path, "split", true)});
  } else {
    refuse_type(reader, path, "pre-tokenizer", type, kPreTokenizers);
  }
}

char32_t character_value(const std::string& utf8) {
  size_t pos = 0;
  return unicode::next_code_point(utf8, pos);
}

void add_decoder(const JsonReader& reader, const Json& json, const std::string& path,
                 Decoder& out) {
  const std::string type = reader.component_type(json, path);
  if (type == "Sequence") {
    for_each_in_sequence(
        reader, json, path, "decoders",
        [&](const Json& item, const std::string& at) { add_decoder(reader, item, at, out); });
  } else if (type == "ByteLevel") {
    out.steps.emplace_back(ByteLevelDecoder{});
  } else if (type == "Replace") {
    out.steps.emplace_back(ReplaceDecoder{read_pattern(reader, json, path),
                                          reader.require_string(json, path, "content")});
  } else if (type == "ByteFallback") {
    out.steps.emplace_back(ByteFallbackDecoder{});
  } else if (type == "Fuse") {
    out.steps.emplace_back(FuseDecoder{});
  } else if (type == "Strip") {
    out.steps.emplace_back(
        StripDecoder{.content = character_value(reader.require_character(json, path, "content")),
                     .start = reader.require_count(json, path, "start"),
                     .stop = reader.require_count(json, path, "stop")});
  } else if (type == "Metaspace") {
    out.steps.emplace_back(MetaspaceDecoder{
        .replacement = character_value(reader.require_character(json, path, "replacement")),
        .drop_in_first_token = read_prepend_scheme(reader, json, path) != PrependScheme::kNever});
  } else {
    refuse_type(reader, path, "decoder", type, kDecoders);
  }
}

}  // namespace

Normalizer read_normalizer(const JsonReader& reader, const Json& root) {
  Normalizer normalizer;
  if (const Json* json = reader.find(root, "", "normalizer")) {
    add_normalizer(reader, *json, "normalizer", normalizer);
  }
  return normalizer;
}

PreTokenizer read_pre_tokenizer(const JsonReader& reader, const Json& root) {
  PreTokenizer pre_tokenizer;
  if (const Json* json = reader.find(root, "", "pre_tokenizer")) {
    add_pre_tokenizer(reader, *json, "pre_tokenizer", pre_tokenizer);
  }
  return pre_tokenizer;
}

Decoder read_decoder(const JsonReader& reader, const Json& root) {
  Decoder decoder;
  if (const Json* json = reader.find(root, "", "decoder")) {
    decoder.present = true;
    add_decoder(reader, *json, "decoder", decoder);
  }
  return decoder;
}

}  // namespace alisa::text
