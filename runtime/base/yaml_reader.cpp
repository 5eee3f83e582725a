#include "runtime/base/yaml_reader.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace alisa {

std::string read_yaml_file(const std::filesystem::path& path, const char* what) {
  ALISA_CHECK(std::filesystem::is_regular_file(path), what, " ", path.string(), " does not exist");
  std::ifstream in(path, std::ios::binary);
  ALISA_CHECK(in, what, " ", path.string(), " cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(str(source, ": not valid YAML (line ", e.mark.line + 1, ": ", e.msg, ")"));
  }
}

std::string yaml_key_list(const YamlKeyReaders& readers) {
  std::string names;
  for (const auto& [name, reader] : readers) names += (names.empty() ? "" : ", ") + name;
  return names;
}

void read_yaml_mapping(const YAML::Node& node, const YamlMapping& m,
                       const YamlKeyReaders& readers) {
  ALISA_CHECK(node.IsMap(), m.where, ": ", m.expected);
  const std::string known = yaml_key_list(readers);
  const std::string of = m.called.empty() ? "" : " of " + m.called;
  const std::string value_where = m.value_where.empty() ? m.where + ": " : m.value_where;
  auto full_name = [&](const std::string& key) {
    return m.path.empty() ? key : m.path + "." + key;
  };
  std::set<std::string> seen;
  for (const auto& item : node) {
    if (m.key_details) {
      ALISA_CHECK(item.first.IsScalar(), m.where, ": line ", item.first.Mark().line + 1, ": a key",
                  of, " must be a plain name (known: ", known, ")");
    } else {
      ALISA_CHECK(item.first.IsScalar(), m.where, ": a key", of, " must be a plain name");
    }
    const std::string key = item.first.as<std::string>();
    const bool first = seen.insert(key).second;
    ALISA_CHECK(first || !m.unique_keys, m.where, ": key '", full_name(key),
                "' appears more than once");
    const auto reader = std::find_if(readers.begin(), readers.end(),
                                     [&](const auto& entry) { return entry.first == key; });
    ALISA_CHECK(reader != readers.end(), m.where, ": unknown key '", full_name(key),
                "' (known: ", known, ")");
    const std::string name = full_name(key);
    reader->second(item.second, {.name = name, .where = str(value_where, "'", name, "'")});
  }
  if (!m.all_required) return;
  for (const auto& [name, reader] : readers) {
    ALISA_CHECK(seen.count(name) != 0, m.where, ": missing key '", full_name(name), "'");
  }
}

}  // namespace alisa
