// An experiment file (`alisa experiment FILE.yaml`, docs/EXPERIMENTS.md): a base run (a run
// YAML's keys), axes that vary run keys (their product; `zip` walks lists together), the
// measurements taken at every point and the plots drawn from them. Every point is a run config
// read by the run YAML's own readers, so a point is refused exactly as a run YAML would be; the
// whole file is checked before any point runs.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/jobs/run_config.h"

namespace alisa {

// Who runs a point's bench: alisa itself, or the FlexGen peer (../shared/peer, GPU host only).
enum class ExperimentEngine { kAlisa, kFlexGen };

struct ExperimentPoint {
  RunConfig run;
  ExperimentEngine engine = ExperimentEngine::kAlisa;
  nlohmann::json axes;      // this point's axis values, by key as the file writes them
  nlohmann::json settings;  // run_config_json(run) and "engine": the point's identity
  std::string label;        // "batch_size=8, engine=alisa": for progress lines
};

// What each point measures; each runs the alisa command of its name.
struct PerplexityMeasure {
  std::filesystem::path text;  // resolved against the experiment file's folder
  int64_t context_length = 0;  // 0: the command's default
  int64_t stride = 0;
  int64_t text_bytes = 0;  // > 0: the text's first bytes only, cut at a line's end
};
struct ExperimentMeasures {
  bool bench = false;
  bool generate = false;  // the job's --metrics
  bool plan = false;      // the cost model's prediction (alisa plan --json)
  std::optional<PerplexityMeasure> perplexity;
  nlohmann::json spec;  // as the file gives it (recorded with each result)
  std::vector<std::string> names() const;
};

enum class PlotKind { kLine, kBar, kStacked };

// A plot of results.csv's columns: x, one or more y (each its own line, or a stacked bar's
// parts), lines split by the values of the series columns.
struct PlotSpec {
  std::string name;  // file stem: NAME.png, NAME.svg
  std::string title;
  std::string x;
  std::vector<std::string> y;
  std::vector<std::string> series;
  PlotKind kind = PlotKind::kLine;
  bool log_x = false;
  bool log_y = false;
};

struct Experiment {
  std::filesystem::path file;
  std::string description;
  std::vector<ExperimentPoint> points;
  ExperimentMeasures measures;
  std::vector<PlotSpec> plots;
  bool uses_flexgen() const;
};

// The file read and every point checked; throws alisa::Error naming the file and key.
Experiment load_experiment(const std::filesystem::path& path);

const char* experiment_keys();
const char* plot_kind_name(PlotKind kind);
// The plots as the plotting script reads them.
nlohmann::json plots_json(const std::vector<PlotSpec>& plots);

}  // namespace alisa
