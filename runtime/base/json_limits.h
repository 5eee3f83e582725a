// Parsing JSON from inputs (prompt lines, forward inputs, config.json, tokenizer.json,
// safetensors headers and indexes) with its nesting bounded: nlohmann's parser is iterative, but
// dumping, copying and comparing a value recurse once per level, so a line of 100,000 '[' would
// overflow the stack later. Deeper documents are refused while they are parsed.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace alisa {

// Deeper than any legitimate input of alisa (a tokenizer.json nests about 6 levels).
constexpr int kMaxJsonDepth = 256;

// A parser callback that throws nlohmann::json::parse_error (id 101, as other syntax errors)
// when an array or object opens deeper than kMaxJsonDepth; it passes every other event to `next`
// (keeping what `next` keeps) or keeps it when `next` is empty.
nlohmann::json::parser_callback_t json_depth_limit(nlohmann::json::parser_callback_t next = {});

// `text` parsed with json_depth_limit; a discarded value (is_discarded()) when it is not valid
// JSON or nests too deep, for the callers that test rather than report.
nlohmann::json try_parse_json(const std::string& text);

}  // namespace alisa
