#include "runtime/base/json_limits.h"

#include "runtime/base/common.h"

namespace alisa {

using Json = nlohmann::json;

Json::parser_callback_t json_depth_limit(Json::parser_callback_t next) {
  return [next = std::move(next)](int depth, Json::parse_event_t event, Json& parsed) {
    const bool opens =
        event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start;
    // `depth` counts the containers around the one opening.
    if (opens && depth >= kMaxJsonDepth) {
      throw Json::parse_error::create(
          101, 0, str("syntax error: nested deeper than ", kMaxJsonDepth, " levels"), nullptr);
    }
    return next ? next(depth, event, parsed) : true;
  };
}

Json try_parse_json(const std::string& text) {
  try {
    return Json::parse(text, json_depth_limit(), /*allow_exceptions=*/false);
  } catch (const Json::parse_error&) {
    return Json(Json::value_t::discarded);
  }
}

}  // namespace alisa
