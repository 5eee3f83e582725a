// alisa experiment: runs an experiment file's points (docs/EXPERIMENTS.md), each measurement in a
// process of its own (alisa's bench, perplexity, generate and plan commands on the point's run
// YAML, or the FlexGen peer), resumably, then writes results.csv and draws the plots.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "policy/policy.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/plot_script.h"
#include "runtime/cli/run_command.h"
#include "runtime/jobs/experiment.h"
#include "runtime/jobs/experiment_results.h"

namespace alisa::cli {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct ExperimentFlags {
  std::string file;
  std::string output_dir;  // default: experiments/<file stem>
  std::string peer = "../shared/peer";
  bool dry_run = false;
  bool no_plots = false;
  bool plots_only = false;
  bool retry_failed = false;
};

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  ALISA_CHECK(out.good(), "cannot write ", path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A Python that has matplotlib: Debian's own first (python3-matplotlib installs there), then
// the one on PATH; "" when neither has it.
std::string plotting_python() {
  for (const char* python : {"/usr/bin/python3", "python3"}) {
    if (run_command({python, "-c", "import matplotlib"}, "/dev/null", "/dev/null") == 0) {
      return python;
    }
  }
  return "";
}

// The peer's driver, or an error saying why FlexGen points cannot run here.
fs::path check_peer(const fs::path& peer) {
  const fs::path driver = peer / "run_flexgen.py";
  const std::string why =
      "engine flexgen points run the FlexGen peer (run_flexgen.py, python3 with torch and a CUDA "
      "GPU: the GPU host; docs/EXPERIMENTS.md)";
  ALISA_CHECK(fs::is_regular_file(driver), why, ", not found: no ", driver.string(),
              " (give --peer DIR)");
  const int status = run_command(
      {"python3", "-c", "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)"},
      "/dev/null", "/dev/null");
  ALISA_CHECK(status != 3, why, ": torch sees no CUDA GPU here");
  ALISA_CHECK(status == 0, why, ": python3 cannot import torch here");
  return driver;
}

// FlexGen's command for a point: its policy file's placement, block and flags; `batch_size`,
// when given, replaces the block (gpu_batch_size = batch_size / num_gpu_batches).
std::vector<std::string> flexgen_command(const ExperimentPoint& p, const fs::path& driver,
                                         const std::string& where) {
  const RunConfig& r = p.run;
  const Policy policy = load_policy(*r.policy);
  ALISA_CHECK(policy.cache_recompute_percent == 0 && !policy.cache_recompute_auto, where,
              ": engine flexgen has no Phase III (cache_recompute_percent must be 0)");
  const int64_t batch = r.batch_size.value_or(policy.block_size());
  ALISA_CHECK(batch % policy.num_gpu_batches == 0, where, ": batch_size ", batch,
              " is not a multiple of the policy's num_gpu_batches ", policy.num_gpu_batches);
  std::vector<std::string> argv = {"python3",
                                   driver.string(),
                                   "--model",
                                   "facebook/" + r.model->substr(std::string("dummy:").size()),
                                   "--percent",
                                   str(policy.weights_gpu_percent),
                                   str(policy.weights_cpu_percent),
                                   str(policy.cache_gpu_percent),
                                   str(policy.cache_cpu_percent),
                                   str(policy.activations_gpu_percent),
                                   str(policy.activations_cpu_percent),
                                   "--gpu-batch-size",
                                   str(batch / policy.num_gpu_batches),
                                   "--num-gpu-batches",
                                   str(policy.num_gpu_batches),
                                   "--prompt-len",
                                   str(r.prompt_len.value_or(512)),
                                   "--gen-len",
                                   str(r.gen_len.value_or(32)),
                                   "--pin-weight",
                                   policy.pin_weights ? "true" : "false",
                                   "--seed",
                                   str(r.seed.value_or(0))};
  if (policy.cpu_attention) argv.push_back("--cpu-cache-compute");
  if (policy.compress_weights) argv.push_back("--compress-weight");
  if (policy.compress_cache) argv.push_back("--compress-cache");
  if (r.gpu_memory_limit) {
    argv.insert(argv.end(), {"--gpu-mem-cap-gib",
                             str(static_cast<double>(*r.gpu_memory_limit) / (1ull << 30))});
  }
  if (r.offload_dir) argv.insert(argv.end(), {"--offload-dir", *r.offload_dir});
  if (r.threads) argv.insert(argv.end(), {"--torch-threads", str(*r.threads)});
  return argv;
}

// The perplexity text a point scores: the file, or its first text_bytes bytes (cut at a line's
// end) written once into the output folder.
fs::path perplexity_text(const PerplexityMeasure& m, const fs::path& out_dir) {
  ALISA_CHECK(fs::is_regular_file(m.text), "measure 'perplexity': no text file ", m.text.string());
  if (m.text_bytes == 0) return m.text;
  std::string text = read_file(m.text).substr(0, static_cast<size_t>(m.text_bytes));
  const size_t line_end = text.rfind('\n');
  if (line_end != std::string::npos) text.resize(line_end + 1);
  const fs::path cut = out_dir / str(m.text.stem().string(), "-first", m.text_bytes, ".txt");
  write_file(cut, text);
  return cut;
}

// One measurement of a point: the command, where its JSON is, and what it is called.
struct Measurement {
  std::string name;
  std::vector<std::string> argv;
  fs::path json;      // the result: this file's last line, or (empty) the command's stdout
  bool peer = false;  // FlexGen's driver: logs, then one JSON line (with "error" on failure)
};

std::vector<Measurement> measurements(const Experiment& e, const ExperimentPoint& p,
                                      const fs::path& config, const fs::path& stem,
                                      const fs::path& text, const fs::path& peer_driver,
                                      const std::string& where) {
  const std::string self = own_binary().string();
  const std::string base = stem.string();
  std::vector<Measurement> out;
  const ExperimentMeasures& m = e.measures;
  if (m.bench) {
    if (p.engine == ExperimentEngine::kFlexGen) {
      out.push_back({"bench", flexgen_command(p, peer_driver, where), {}, true});
    } else {
      out.push_back({"bench",
                     {self, "bench", "--config", config.string(), "--output", base + ".bench.json"},
                     base + ".bench.json"});
    }
  }
  if (m.perplexity) {
    std::vector<std::string> argv = {self,     "perplexity", "--config", config.string(),
                                     "--text", text.string()};
    if (m.perplexity->context_length > 0) {
      argv.insert(argv.end(), {"--context-length", str(m.perplexity->context_length)});
    }
    if (m.perplexity->stride > 0) argv.insert(argv.end(), {"--stride", str(m.perplexity->stride)});
    out.push_back({"perplexity", argv, {}});
  }
  if (m.generate) {
    out.push_back({"generate",
                   {self, "generate", "--config", config.string(), "--output",
                    base + ".generate.jsonl", "--metrics", base + ".generate.json", "--overwrite"},
                   base + ".generate.json"});
  }
  if (m.plan) out.push_back({"plan", {self, "plan", "--config", config.string(), "--json"}, {}});
  return out;
}

// Runs one measurement; its JSON, or an error carrying the command's own one-line message.
Json measure(const Measurement& m, const fs::path& stem) {
  const fs::path out = stem.string() + "." + m.name + ".stdout";
  const fs::path err = stem.string() + "." + m.name + ".stderr";
  const int status = run_command(m.argv, out, err);
  if (m.peer) {
    Json result = Json::parse(last_line(out), nullptr, false);
    ALISA_CHECK(!result.is_object() || !result.contains("error"), m.name,
                ": FlexGen: ", result.is_object() ? result["error"].dump() : "");
    if (status == 0 && result.is_object()) {
      // FlexGen's figures under bench's names, so that both engines share the plots' columns.
      result["total_throughput"] = result["total_throughput_tok_s"];
      result["decode_throughput"] = result["decode_throughput_tok_s"];
      return result;
    }
  }
  std::string message = last_line(err);
  const std::string prefix = "alisa: error: ";  // the command's own line, told once
  if (message.rfind(prefix, 0) == 0) message.erase(0, prefix.size());
  ALISA_CHECK(status == 0, m.name, ": ", message.empty() ? str("exit status ", status) : message);
  const Json result = Json::parse(read_file(m.json.empty() ? out : m.json), nullptr, false);
  ALISA_CHECK(result.is_object(), m.name, ": no JSON result (see ", out.string(), ")");
  return result;
}

std::string seconds_text(double s) {
  return str(static_cast<int64_t>(s * 10 + 0.5) / 10.0, " s");
}

void draw_plots(const Experiment& e, const fs::path& dir, const std::string& python) {
  write_file(dir / "plots.json", plots_json(e.plots).dump(2) + "\n");
  write_file(dir / "plot_experiment.py", plot_script());
  const int status =
      run_command({python, (dir / "plot_experiment.py").string(), (dir / "plots.json").string(),
                   (dir / "results.csv").string(), dir.string()},
                  dir / "plots.stdout", dir / "plots.stderr");
  ALISA_CHECK(status == 0, "plots: ", last_line(dir / "plots.stderr"), " (",
              (dir / "plots.stderr").string(), ")");
  const std::string warnings = read_file(dir / "plots.stderr");
  if (!warnings.empty()) std::cerr << warnings;
}

void run_experiment(const ExperimentFlags& flags) {
  const Experiment e = load_experiment(flags.file);
  const fs::path dir = flags.output_dir.empty()
                           ? fs::path("experiments") / fs::path(flags.file).stem()
                           : fs::path(flags.output_dir);
  const fs::path results_path = dir / "results.jsonl";
  ALISA_CHECK(!(flags.no_plots && flags.plots_only),
              "--no-plots and --plots-only exclude each other");

  // Everything that can be refused is refused before any point runs.
  std::string python;
  if (!e.plots.empty() && !flags.no_plots && !flags.dry_run) {
    python = plotting_python();
    ALISA_CHECK(!python.empty(), "the plots need python3 with matplotlib (Debian: apt-get install ",
                "python3-matplotlib; scripts/setup.sh does): install it, or give --no-plots ",
                "and draw them later with --plots-only");
  }
  fs::path peer_driver;
  const bool runs_points = !flags.plots_only && !flags.dry_run;
  if (e.uses_flexgen() && runs_points) peer_driver = check_peer(flags.peer);
  for (size_t i = 0; i < e.points.size(); ++i) {
    if (e.points[i].engine == ExperimentEngine::kFlexGen) {
      flexgen_command(e.points[i], peer_driver, str(flags.file, ": point ", i));
    }
  }

  const std::map<std::string, Json> done = read_results(results_path);
  auto record_of = [&](const ExperimentPoint& p) -> const Json* {
    const auto it = done.find(result_key(p.settings, e.measures.spec));
    if (it == done.end() || (flags.retry_failed && it->second.contains("error"))) return nullptr;
    return &it->second;
  };
  if (flags.dry_run) {
    size_t todo = 0;
    for (size_t i = 0; i < e.points.size(); ++i) {
      const bool have = record_of(e.points[i]) != nullptr;
      todo += have ? 0 : 1;
      std::cout << "point " << i << (have ? " [done] " : " [to run] ")
                << (e.points[i].label.empty() ? "(the base run)" : e.points[i].label) << "\n";
      if (e.points[i].engine == ExperimentEngine::kFlexGen) {
        // What FlexGen will be asked, to check the translation before a GPU host runs it.
        std::cout << "  flexgen:";
        for (const std::string& arg :
             flexgen_command(e.points[i], fs::path(flags.peer) / "run_flexgen.py", flags.file)) {
          std::cout << " " << arg;
        }
        std::cout << "\n";
      }
    }
    std::cout << e.points.size() << " points, " << todo << " to run, measuring "
              << e.measures.spec.dump() << "; results in " << results_path.string() << "\n";
    return;
  }
  fs::create_directories(dir / "points");

  std::vector<Json> records(e.points.size());
  size_t failed = 0;
  size_t ran = 0;
  size_t skipped = 0;
  std::optional<fs::path> text;
  for (size_t i = 0; i < e.points.size(); ++i) {
    const ExperimentPoint& p = e.points[i];
    if (const Json* record = record_of(p)) {
      records[i] = *record;
      ++skipped;
      continue;
    }
    if (flags.plots_only) continue;
    if (e.measures.perplexity && !text) text = perplexity_text(*e.measures.perplexity, dir);
    const std::string where = str(flags.file, ": point ", i);
    const fs::path stem = dir / "points" / str("point-", i);
    const fs::path config = stem.string() + ".yaml";
    write_file(config, run_config_yaml(p.run));
    Json record = {{"point", i},
                   {"label", p.label},
                   {"settings", p.settings},
                   {"axes", p.axes},
                   {"measure", e.measures.spec}};
    const auto start = std::chrono::steady_clock::now();
    std::fprintf(stderr, "alisa: experiment: point %zu/%zu (%s) ...\n", i + 1, e.points.size(),
                 p.label.c_str());
    try {
      for (const Measurement& m :
           measurements(e, p, config, stem, text.value_or(""), peer_driver, where)) {
        record[m.name] = measure(m, stem);
      }
    } catch (const Error& error) {
      record["error"] = error.what();
      ++failed;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    record["wall_s"] = seconds;
    append_result(results_path, record);
    ++ran;
    std::fprintf(
        stderr, "alisa: experiment: point %zu/%zu %s in %s%s\n", i + 1, e.points.size(),
        record.contains("error") ? "failed" : "done", seconds_text(seconds).c_str(),
        record.contains("error") ? str(": ", record["error"].get<std::string>()).c_str() : "");
    records[i] = std::move(record);
  }

  std::vector<nlohmann::ordered_json> rows;
  for (const Json& record : records) {
    if (!record.is_null()) rows.push_back(result_row(record));
  }
  write_results_csv(dir / "results.csv", rows);
  if (!e.plots.empty() && !flags.no_plots) {
    ALISA_CHECK(!rows.empty(), "--plots-only: no point of ", flags.file, " has a result in ",
                results_path.string());
    draw_plots(e, dir, python);
  }
  std::fprintf(stderr,
               "alisa: experiment: %zu points (%zu run now, %zu skipped as done before), "
               "%zu failed; results in %s\n",
               e.points.size(), ran, skipped, failed, dir.string().c_str());
  ALISA_CHECK(ran == 0 || failed < ran, "every point run failed; the first: ", [&] {
    for (const Json& r : records) {
      if (r.contains("error")) return r["error"].get<std::string>();
    }
    return std::string();
  }());
}

}  // namespace

void add_experiment_command(CLI::App& app) {
  auto flags = std::make_shared<ExperimentFlags>();
  CLI::App* cmd = app.add_subcommand(
      "experiment",
      "Run an experiment file's points (a base run, axes, measurements), resumably, and write "
      "results.jsonl, results.csv and the plots (docs/EXPERIMENTS.md)");
  cmd->add_option("file", flags->file, "Experiment YAML (configs/experiments/)")->required();
  cmd->add_option("--output-dir", flags->output_dir,
                  "Folder of the results and plots (default: experiments/<file name>)");
  cmd->add_flag("--dry-run", flags->dry_run,
                "Check the file and list its points (done or to run); run nothing");
  cmd->add_option("--peer", flags->peer,
                  "Folder of the FlexGen peer (run_flexgen.py) for engine flexgen points "
                  "(../shared/peer)");
  cmd->add_flag("--retry-failed", flags->retry_failed,
                "Run again the points whose record is an error (default: skipped as done)");
  cmd->add_flag("--no-plots", flags->no_plots, "Write the results only");
  cmd->add_flag("--plots-only", flags->plots_only,
                "Run no point: write results.csv and draw the plots from the results there");
  cmd->callback([flags] { run_experiment(*flags); });
}

}  // namespace alisa::cli
