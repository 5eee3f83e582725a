#include "runtime/jobs/experiment.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

#include "runtime/base/common.h"
#include "runtime/base/yaml_reader.h"

namespace alisa {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const char* const kEngineKey = "engine";

// "a, b, c" as its items.
std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  std::istringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    item.erase(0, item.find_first_not_of(' '));
    items.push_back(item);
  }
  return items;
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// A key a point may set: a run YAML key, a `swa` key dotted ("swa.sparsity"), or `engine`.
// `output` is the experiment's own: each point writes under the output folder.
void check_point_key(const std::string& key, const std::string& where) {
  if (key == kEngineKey) return;
  ALISA_CHECK(key != "output", where,
              ": 'output' is not a point's key (the experiment writes every point's output under "
              "its --output-dir)");
  const size_t dot = key.find('.');
  if (dot == std::string::npos) {
    ALISA_CHECK(contains(split_list(run_config_keys()), key), where, ": unknown key '", key,
                "' (known: ", run_config_keys(), ", engine; swa keys dotted: swa.sparsity)");
    return;
  }
  ALISA_CHECK(
      key.substr(0, dot) == "swa" && contains(split_list(swa_config_keys()), key.substr(dot + 1)),
      where, ": unknown key '", key, "' (dotted keys are swa.KEY, KEY one of ", swa_config_keys(),
      ")");
}

// Sets a point key ("batch_size", "swa.sparsity") of a run YAML mapping.
void set_key(YAML::Node& node, const std::string& key, const YAML::Node& value) {
  const size_t dot = key.find('.');
  if (dot == std::string::npos) {
    node[key] = value;
  } else {
    node[key.substr(0, dot)][key.substr(dot + 1)] = value;
  }
}

ExperimentEngine parse_engine(const YAML::Node& value, const std::string& where) {
  const std::string name = yaml_scalar<std::string>(value, where, "alisa or flexgen");
  ALISA_CHECK(name == "alisa" || name == "flexgen", where, " must be alisa or flexgen, got '", name,
              "'");
  return name == "alisa" ? ExperimentEngine::kAlisa : ExperimentEngine::kFlexGen;
}

// One axis: a key and its values, or a zip's keys and their equal-length lists.
struct Axis {
  std::vector<std::string> keys;
  std::vector<std::vector<YAML::Node>> values;  // values[i][k]: the i-th step's value of keys[k]
};

// A list of scalars, checked as the value of `key` alone (a run YAML holding only it).
std::vector<YAML::Node> axis_values(const YAML::Node& list, const std::string& key,
                                    const std::string& where, const fs::path& base) {
  ALISA_CHECK(list.IsSequence() && list.size() > 0, where, " must be a non-empty list of values");
  std::vector<YAML::Node> values;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string value_where = str(where, "[", i, "]");
    ALISA_CHECK(list[i].IsScalar(), value_where, " must be a single value");
    if (key == kEngineKey) {
      parse_engine(list[i], value_where);
    } else {
      YAML::Node alone(YAML::NodeType::Map);
      set_key(alone, key, list[i]);
      read_run_config(alone, value_where, base);
    }
    values.push_back(list[i]);
  }
  return values;
}

Axis read_axis(const YAML::Node& node, const std::string& where, const fs::path& base) {
  ALISA_CHECK(node.IsMap() && node.size() == 1, where,
              " must be one key and its list of values ({batch_size: [1, 8]}) or a zip ({zip: "
              "{KEY: [..], KEY: [..]}})");
  const std::string key = node.begin()->first.as<std::string>();
  const YAML::Node value = node.begin()->second;
  Axis axis;
  if (key != "zip") {
    check_point_key(key, where);
    axis.keys.push_back(key);
    for (const YAML::Node& v : axis_values(value, key, str(where, " '", key, "'"), base)) {
      axis.values.push_back({v});
    }
    return axis;
  }
  ALISA_CHECK(value.IsMap() && value.size() > 0, where,
              " 'zip' must be a mapping of keys to lists of equal length");
  std::vector<std::vector<YAML::Node>> columns;
  for (const auto& item : value) {
    const std::string zipped = item.first.as<std::string>();
    check_point_key(zipped, str(where, " 'zip'"));
    ALISA_CHECK(!contains(axis.keys, zipped), where, " 'zip': key '", zipped,
                "' appears more than once");
    columns.push_back(axis_values(item.second, zipped, str(where, " 'zip' '", zipped, "'"), base));
    ALISA_CHECK(columns.back().size() == columns.front().size(), where,
                " 'zip': lists differ in length: '", axis.keys.front(), "' has ",
                columns.front().size(), " values, '", zipped, "' has ", columns.back().size());
    axis.keys.push_back(zipped);
  }
  for (size_t i = 0; i < columns.front().size(); ++i) {
    std::vector<YAML::Node> step;
    for (const auto& column : columns) step.push_back(column[i]);
    axis.values.push_back(step);
  }
  return axis;
}

std::string engine_name(ExperimentEngine engine) {
  return engine == ExperimentEngine::kAlisa ? "alisa" : "flexgen";
}

// What each measurement needs of a point, and what FlexGen's points can do.
void check_point(const ExperimentPoint& p, const ExperimentMeasures& m, const std::string& where) {
  const RunConfig& r = p.run;
  ALISA_CHECK(r.model, where, ": no model (give 'model' in 'base' or an axis)");
  if (m.generate) {
    ALISA_CHECK(r.prompts, where, ": measure 'generate' needs 'prompts' (a JSONL job)");
  }
  if (m.plan) {
    ALISA_CHECK(r.hardware, where,
                ": measure 'plan' needs 'hardware' (configs/hardware/NAME.yaml)");
    ALISA_CHECK(r.prompt_len && r.gen_len, where,
                ": measure 'plan' needs 'prompt_len' and 'gen_len' (its workload)");
  }
  if (p.engine != ExperimentEngine::kFlexGen) return;
  ALISA_CHECK(m.bench && !m.generate && !m.plan && !m.perplexity, where,
              ": engine flexgen points measure only 'bench' (FlexGen's benchmark)");
  ALISA_CHECK(r.model->rfind("dummy:opt-", 0) == 0, where,
              ": engine flexgen runs OPT models with dummy weights: model must be dummy:opt-NAME, "
              "got '",
              *r.model, "'");
  ALISA_CHECK(r.policy && *r.policy != "auto", where,
              ": engine flexgen needs a policy file (FlexGen's placement; it has no solver)");
  ALISA_CHECK(r.swa_sparsity.value_or(0) == 0, where,
              ": engine flexgen has no sparse window attention (swa.sparsity must be 0)");
  ALISA_CHECK(r.device.value_or("auto") != "cpu", where, ": engine flexgen runs on the GPU");
}

ExperimentMeasures read_measures(const YAML::Node& node, const std::string& where,
                                 const fs::path& base) {
  ExperimentMeasures m;
  auto no_options = [](bool& flag) {
    return [&flag](const YAML::Node& value, const YamlKey& key) {
      flag = true;
      if (!value.IsNull())
        read_yaml_mapping(
            value, {.where = key.where, .expected = "takes no options (leave it empty)"}, {});
    };
  };
  read_yaml_mapping(
      node,
      {.where = where,
       .expected = "expected a mapping of measurements (bench, perplexity, "
                   "generate, plan), each with its options"},
      {{"bench", no_options(m.bench)},
       {"perplexity",
        [&m, &base](const YAML::Node& value, const YamlKey& key) {
          PerplexityMeasure p;
          std::optional<std::string> text;
          read_yaml_mapping(value,
                            {.where = key.where,
                             .expected = "expected a mapping (text, context_length, stride, "
                                         "text_bytes)",
                             .all_required = false},
                            {{"text", yaml_value(text, "a path")},
                             {"context_length", yaml_value(p.context_length, "an integer")},
                             {"stride", yaml_value(p.stride, "an integer")},
                             {"text_bytes", yaml_value(p.text_bytes, "an integer")}});
          ALISA_CHECK(text, key.where, ": missing key 'text' (the text to score)");
          ALISA_CHECK(p.context_length >= 0 && p.stride >= 0 && p.text_bytes >= 0, key.where,
                      ": context_length, stride and text_bytes must be >= 0");
          p.text =
              fs::path(*text).is_absolute() ? fs::path(*text) : (base / *text).lexically_normal();
          m.perplexity = p;
        }},
       {"generate", no_options(m.generate)},
       {"plan", no_options(m.plan)}});
  ALISA_CHECK(m.bench || m.generate || m.plan || m.perplexity, where,
              ": measure nothing? name at least one of bench, perplexity, generate, plan");
  m.spec = Json::object();
  for (const std::string& name : m.names()) m.spec[name] = Json::object();
  if (m.perplexity) {
    m.spec["perplexity"] = {{"text", m.perplexity->text.string()},
                            {"context_length", m.perplexity->context_length},
                            {"stride", m.perplexity->stride},
                            {"text_bytes", m.perplexity->text_bytes}};
  }
  return m;
}

// A column of results.csv a plot may name: MEASURE.FIELD of a measurement taken, or (unless
// `measured_only`) a point key or "point".
void check_column(const std::string& column, const ExperimentMeasures& m, bool measured_only,
                  const std::string& where) {
  const size_t dot = column.find('.');
  if (dot != std::string::npos && dot + 1 < column.size() &&
      contains(m.names(), column.substr(0, dot))) {
    return;
  }
  if (!measured_only) {
    if (column == "point") return;
    try {
      check_point_key(column, where);
      return;
    } catch (const Error&) {
    }
  }
  throw Error(str(where, ": '", column, "' is no column: ",
                  measured_only ? "" : "a point key (batch_size, swa.sparsity, engine, ...), or ",
                  "MEASURE.FIELD of a measurement this file takes (", join(m.names()), ")"));
}

std::vector<std::string> string_or_list(const YAML::Node& value, const YamlKey& key) {
  std::vector<std::string> out;
  if (value.IsSequence()) {
    for (const auto& item : value)
      out.push_back(yaml_scalar<std::string>(item, key.where, "a column name"));
  } else {
    out.push_back(yaml_scalar<std::string>(value, key.where, "a column name or a list of them"));
  }
  ALISA_CHECK(!out.empty(), key.where, " must name at least one column");
  return out;
}

PlotSpec read_plot(const YAML::Node& node, const std::string& where, const ExperimentMeasures& m) {
  PlotSpec p;
  std::string kind = "line";
  read_yaml_mapping(
      node, {.where = where, .expected = "expected a mapping (name, x, y, ...)"},
      {{"name", yaml_value(p.name, "a file name")},
       {"title", yaml_value(p.title, "a text")},
       {"x", yaml_value(p.x, "a column name")},
       {"y", [&p](const YAML::Node& v, const YamlKey& k) { p.y = string_or_list(v, k); }},
       {"series", [&p](const YAML::Node& v, const YamlKey& k) { p.series = string_or_list(v, k); }},
       {"kind", yaml_value(kind, "line, bar or stacked")},
       {"log_x", yaml_value(p.log_x, "true or false")},
       {"log_y", yaml_value(p.log_y, "true or false")}});
  ALISA_CHECK(!p.name.empty() && !p.x.empty() && !p.y.empty(), where,
              ": a plot needs 'name', 'x' and 'y'");
  ALISA_CHECK(
      std::all_of(p.name.begin(), p.name.end(),
                  [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
                  }),
      where, ": 'name' must be letters, digits, '-' or '_' (a file name), got '", p.name, "'");
  ALISA_CHECK(kind == "line" || kind == "bar" || kind == "stacked", where,
              ": 'kind' must be line, bar or stacked, got '", kind, "'");
  p.kind = kind == "line" ? PlotKind::kLine : kind == "bar" ? PlotKind::kBar : PlotKind::kStacked;
  ALISA_CHECK(p.y.size() == 1 || p.series.empty(), where,
              ": several y columns are the series already: drop 'series'");
  ALISA_CHECK(p.kind != PlotKind::kStacked || p.series.empty(), where,
              ": a stacked plot stacks its y columns: drop 'series'");
  check_column(p.x, m, false, str(where, " 'x'"));
  for (const std::string& y : p.y) check_column(y, m, true, str(where, " 'y'"));
  for (const std::string& s : p.series) check_column(s, m, false, str(where, " 'series'"));
  return p;
}

// The product's next step, the last axis fastest; false after the last.
bool next_step(std::vector<size_t>& step, const std::vector<Axis>& axes) {
  for (size_t a = axes.size(); a-- > 0;) {
    if (++step[a] < axes[a].values.size()) return true;
    step[a] = 0;
  }
  return false;
}

}  // namespace

std::vector<std::string> ExperimentMeasures::names() const {
  std::vector<std::string> out;
  if (bench) out.push_back("bench");
  if (perplexity) out.push_back("perplexity");
  if (generate) out.push_back("generate");
  if (plan) out.push_back("plan");
  return out;
}

bool Experiment::uses_flexgen() const {
  return std::any_of(points.begin(), points.end(), [](const ExperimentPoint& p) {
    return p.engine == ExperimentEngine::kFlexGen;
  });
}

const char* experiment_keys() {
  return "description, base, axes, measure, plots";
}

const char* plot_kind_name(PlotKind kind) {
  return kind == PlotKind::kLine ? "line" : kind == PlotKind::kBar ? "bar" : "stacked";
}

Json plots_json(const std::vector<PlotSpec>& plots) {
  Json out = Json::array();
  for (const PlotSpec& p : plots) {
    out.push_back({{"name", p.name},
                   {"title", p.title},
                   {"x", p.x},
                   {"y", p.y},
                   {"series", p.series},
                   {"kind", plot_kind_name(p.kind)},
                   {"log_x", p.log_x},
                   {"log_y", p.log_y}});
  }
  return out;
}

Experiment load_experiment(const fs::path& path) {
  const std::string file = path.string();
  const YAML::Node root = parse_yaml(read_yaml_file(path, "experiment"), file);
  // Absolute: each point's run YAML is written elsewhere (the output folder).
  const fs::path dir = fs::absolute(path).parent_path();
  Experiment e;
  e.file = path;
  YAML::Node base(YAML::NodeType::Map), axes_node, measure_node, plots_node;
  read_yaml_mapping(
      root, {.where = file, .expected = str("expected a mapping (keys: ", experiment_keys(), ")")},
      {{"description", yaml_value(e.description, "a text")},
       {"base", [&base](const YAML::Node& v, const YamlKey&) { base = YAML::Clone(v); }},
       {"axes", [&axes_node](const YAML::Node& v, const YamlKey&) { axes_node = v; }},
       {"measure", [&measure_node](const YAML::Node& v, const YamlKey&) { measure_node = v; }},
       {"plots", [&plots_node](const YAML::Node& v, const YamlKey&) { plots_node = v; }}});

  // The base alone: its keys and values, named as the base's.
  const std::string base_where = str(file, ": 'base'");
  ALISA_CHECK(base.IsMap(), base_where, " must be a mapping of run keys (docs/CONFIGURATION.md)");
  ExperimentEngine base_engine = ExperimentEngine::kAlisa;
  if (base[kEngineKey]) {
    base_engine = parse_engine(base[kEngineKey], str(base_where, " 'engine'"));
    base.remove(kEngineKey);
  }
  for (const auto& item : base) check_point_key(item.first.as<std::string>(), base_where);
  read_run_config(base, base_where, dir);

  ALISA_CHECK(!measure_node.IsNull(), file,
              ": missing key 'measure' (bench, perplexity, generate, plan)");
  e.measures = read_measures(measure_node, str(file, ": 'measure'"), dir);

  std::vector<Axis> axes;
  if (!axes_node.IsNull()) {
    ALISA_CHECK(axes_node.IsSequence(), file,
                ": 'axes' must be a list, each item {KEY: [values]} or {zip: {KEY: [..], ..}}");
    std::set<std::string> seen;
    for (size_t i = 0; i < axes_node.size(); ++i) {
      axes.push_back(read_axis(axes_node[i], str(file, ": axes[", i, "]"), dir));
      for (const std::string& key : axes.back().keys) {
        ALISA_CHECK(seen.insert(key).second, file, ": axes[", i, "]: key '", key,
                    "' is already an axis");
      }
    }
  }

  // The product of the axes, the first outermost.
  std::vector<size_t> step(axes.size(), 0);
  std::map<std::string, size_t> by_settings;
  do {
    ExperimentPoint p;
    p.engine = base_engine;
    YAML::Node node = YAML::Clone(base);
    p.axes = Json::object();
    std::vector<std::pair<std::string, std::string>> label;
    for (size_t a = 0; a < axes.size(); ++a) {
      for (size_t k = 0; k < axes[a].keys.size(); ++k) {
        const std::string& key = axes[a].keys[k];
        const YAML::Node& value = axes[a].values[step[a]][k];
        label.emplace_back(key, value.Scalar());
        if (key == kEngineKey) {
          p.engine = parse_engine(value, key);
        } else {
          set_key(node, key, value);
        }
      }
    }
    const size_t index = e.points.size();
    for (const auto& [key, text] : label)
      p.label += str(p.label.empty() ? "" : ", ", key, "=", text);
    const std::string where =
        str(file, ": point ", index, label.empty() ? "" : str(" (", p.label, ")"));
    p.run = read_run_config(node, where, dir);
    p.settings = run_config_json(p.run);
    p.settings[kEngineKey] = engine_name(p.engine);
    for (const auto& [key, text] : label) p.axes[key] = p.settings[key];
    check_point(p, e.measures, where);
    const auto [same, fresh] = by_settings.emplace(p.settings.dump(), index);
    ALISA_CHECK(fresh, where, ": the same settings as point ", same->second,
                " (an axis repeats a value)");
    e.points.push_back(std::move(p));
  } while (next_step(step, axes));

  if (!plots_node.IsNull()) {
    ALISA_CHECK(plots_node.IsSequence(), file, ": 'plots' must be a list of plots");
    std::set<std::string> names;
    for (size_t i = 0; i < plots_node.size(); ++i) {
      e.plots.push_back(read_plot(plots_node[i], str(file, ": plots[", i, "]"), e.measures));
      ALISA_CHECK(names.insert(e.plots.back().name).second, file, ": plots[", i, "]: name '",
                  e.plots.back().name, "' is taken by another plot");
    }
  }
  return e;
}

}  // namespace alisa
