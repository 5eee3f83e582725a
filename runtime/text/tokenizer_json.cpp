#include "runtime/text/tokenizer_json.h"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "runtime/base/common.h"
#include "runtime/base/json_limits.h"
#include "runtime/text/json_reader.h"
#include "runtime/text/pipeline_json.h"

namespace alisa::text {
namespace {

void read_model(const JsonReader& reader, const Json& root, BpeModel& model) {
  const Json& json = reader.require_object(root, "", "model");
  const std::string path = "model";
  const auto type = reader.optional_string(json, path, "type");
  if (type && *type != "BPE") {
    reader.fail("model.type", str("model type '", *type, "' is not supported (only BPE)"));
  }
  if (const Json* dropout = reader.find(json, path, "dropout")) {
    if (!dropout->is_number() || dropout->get<double>() != 0.0) {
      reader.fail("model.dropout", "BPE dropout is not supported (expected null)");
    }
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const auto affix = reader.optional_string(json, path, key); affix && !affix->empty()) {
      reader.fail(JsonReader::join(path, key),
                  str("'", *affix, "' is not supported (expected null)"));
    }
  }
  model.byte_fallback = reader.bool_or(json, path, "byte_fallback", false);
  model.fuse_unk = reader.bool_or(json, path, "fuse_unk", false);
  model.ignore_merges = reader.bool_or(json, path, "ignore_merges", false);

  const Json& vocab = reader.require_object(json, path, "vocab");
  model.vocab.reserve(vocab.size());
  for (const auto& [token, id_json] : vocab.items()) {
    const int32_t id = reader.id_value(id_json, str("model.vocab[\"", token, "\"]"));
    model.vocab.emplace(token, id);
    model.tokens_by_id.emplace(id, token);
  }
  const auto id_of = [&](const std::string& token, std::string_view key) {
    const auto it = model.vocab.find(token);
    if (it == model.vocab.end()) reader.fail(key, str("token '", token, "' is not in model.vocab"));
    return it->second;
  };
  if (const auto unk = reader.optional_string(json, path, "unk_token")) {
    model.unk_id = id_of(*unk, "model.unk_token");
  }
  for (unsigned byte = 0; byte < 256; ++byte) {  // "<0x0A>": Rust's {:#04X}
    const auto it = model.vocab.find(
        str("<0x", "0123456789ABCDEF"[byte >> 4], "0123456789ABCDEF"[byte & 15], ">"));
    model.byte_ids[byte] = it == model.vocab.end() ? -1 : it->second;
  }

  const Json& merges = reader.require_array(json, path, "merges");
  model.merges.reserve(merges.size());
  int32_t rank = 0;
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string key = at_index("model.merges", i);
    std::string left, right;
    if (merges[i].is_string()) {  // "left right"
      const std::string line = merges[i].get<std::string>();
      if (line.starts_with("#version")) continue;
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        reader.fail(key, str("expected two tokens separated by one space, got '", line, "'"));
      }
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else if (merges[i].is_array() && merges[i].size() == 2) {  // ["left", "right"]
      left = reader.string_value(merges[i][0], key);
      right = reader.string_value(merges[i][1], key);
    } else {
      reader.fail(key, "expected \"left right\" or [\"left\", \"right\"]");
    }
    const int32_t left_id = id_of(left, key);
    const int32_t right_id = id_of(right, key);
    const int32_t merged_id = id_of(left + right, key);
    // A repeated pair keeps its last rank, as Hugging Face's map insertion does.
    model.merges.insert_or_assign(pair_key(left_id, right_id), Merge{rank++, merged_id});
  }
}

void read_added_tokens(const JsonReader& reader, const Json& root, const BpeModel& model,
                       const Normalizer& normalizer, AddedVocabulary& added) {
  const Json* tokens = reader.find(root, "", "added_tokens");
  if (tokens == nullptr) return;
  if (!tokens->is_array()) reader.fail("added_tokens", "expected an array");
  for (size_t i = 0; i < tokens->size(); ++i) {
    const std::string path = at_index("added_tokens", i);
    const Json& entry = (*tokens)[i];
    AddedToken token;
    token.content = reader.require_string(entry, path, "content");
    token.special = reader.bool_or(entry, path, "special", false);
    token.single_word = reader.bool_or(entry, path, "single_word", false);
    token.lstrip = reader.bool_or(entry, path, "lstrip", false);
    token.rstrip = reader.bool_or(entry, path, "rstrip", false);
    token.normalized = reader.bool_or(entry, path, "normalized", !token.special);
    const int32_t expected_id = reader.id_value(reader.require(entry, path, "id"), path + ".id");
    const int32_t id = added.add(token, model);
    if (id >= 0 && id != expected_id) {
      // Hugging Face assigns the same id and warns the same way.
      spdlog::warn("tokenizer: added token '{}' was expected to have id {} but was given id {}",
                   token.content, expected_id, id);
    }
  }
  added.build_matchers(model, normalizer);
}

std::pair<std::string, int32_t> read_token_and_id(const JsonReader& reader, const Json& json,
                                                  const std::string& path, const char* key) {
  const Json& pair = reader.require_array(json, path, key);
  const std::string pair_path = JsonReader::join(path, key);
  if (pair.size() != 2) reader.fail(pair_path, "expected [token, id]");
  return {reader.string_value(pair[0], pair_path), reader.id_value(pair[1], pair_path)};
}

Template read_template(const JsonReader& reader, const Json& json, const std::string& path) {
  const Json& special_tokens = reader.require_object(json, path, "special_tokens");
  const Json& single = reader.require_array(json, path, "single");
  Template pieces;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string piece_path = at_index(path + ".single", i);
    const Json& piece = single[i];
    if (const Json* sequence = reader.find(piece, piece_path, "Sequence")) {
      const std::string id = reader.require_string(*sequence, piece_path + ".Sequence", "id");
      if (id != "A") reader.fail(piece_path, str("the single template cannot use sequence ", id));
      pieces.push_back({true, {}});
    } else if (const Json* special = reader.find(piece, piece_path, "SpecialToken")) {
      const std::string name = reader.require_string(*special, piece_path + ".SpecialToken", "id");
      const Json* definition = reader.find(special_tokens, path + ".special_tokens", name.c_str());
      if (definition == nullptr) {
        reader.fail(path + ".special_tokens", str("no entry for special token '", name, "'"));
      }
      const std::string ids_path = str(path, ".special_tokens.", name);
      const Json& ids = reader.require_array(*definition, ids_path, "ids");
      TemplatePiece token_piece;
      for (size_t k = 0; k < ids.size(); ++k) {
        token_piece.ids.push_back(reader.id_value(ids[k], at_index(ids_path + ".ids", k)));
      }
      pieces.push_back(std::move(token_piece));
    } else {
      reader.fail(piece_path, "expected a Sequence or a SpecialToken");
    }
  }
  return pieces;
}

void read_post_processor(const JsonReader& reader, const Json& json, const std::string& path,
                         std::vector<Template>& out) {
  const std::string type = reader.component_type(json, path);
  if (type == "ByteLevel") return;  // only adjusts offsets
  if (type == "TemplateProcessing") {
    out.push_back(read_template(reader, json, path));
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    const int32_t cls = read_token_and_id(reader, json, path, "cls").second;
    const int32_t sep = read_token_and_id(reader, json, path, "sep").second;
    out.push_back({{false, {cls}}, {true, {}}, {false, {sep}}});
  } else if (type == "Sequence") {
    const Json& list = reader.require_array(json, path, "processors");
    for (size_t i = 0; i < list.size(); ++i) {
      read_post_processor(reader, list[i], at_index(path + ".processors", i), out);
    }
  } else {
    reader.fail(path + ".type", str("post-processor '", type, "' is not supported"));
  }
}

std::string read_file(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    throw Error(str("tokenizer file '", path.string(), "' does not exist or is not a file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw Error(str("tokenizer file '", path.string(), "' cannot be read"));
  return text.str();
}

}  // namespace

void read_tokenizer_json(const std::filesystem::path& tokenizer_json, TokenizerSpec& spec) {
  const std::string file = tokenizer_json.string();
  const std::string text = read_file(tokenizer_json);
  try {
    const Json root = Json::parse(text, json_depth_limit());
    if (!root.is_object()) throw Error(str("tokenizer file '", file, "': expected a JSON object"));
    const JsonReader reader(file);
    // "truncation" and "padding" are ignored, as transformers' encode ignores them by default.
    spec.normalizer = read_normalizer(reader, root);
    spec.pre_tokenizer = read_pre_tokenizer(reader, root);
    read_model(reader, root, spec.model);
    read_added_tokens(reader, root, spec.model, spec.normalizer, spec.added);
    if (const Json* post = reader.find(root, "", "post_processor")) {
      read_post_processor(reader, *post, "post_processor", spec.post_processors);
    }
    spec.decoder = read_decoder(reader, root);
  } catch (const Json::parse_error& e) {
    throw Error(str("tokenizer file '", file, "' is not valid JSON: ", e.what()));
  } catch (const Json::exception& e) {  // a type the checks above missed: still the file's fault
    throw Error(str("tokenizer file '", file, "': ", e.what()));
  }
  int64_t max_id = -1;
  for (const auto& [token, id] : spec.model.vocab) max_id = std::max<int64_t>(max_id, id);
  max_id = std::max<int64_t>(max_id, spec.added.max_id().value_or(-1));
  spec.vocab_size = max_id + 1;
}

}  // namespace alisa::text
