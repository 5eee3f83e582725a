// An experiment's results (docs/EXPERIMENTS.md): results.jsonl, one record per point measured,
// appended as each point ends (so an interrupted experiment resumes where it stopped), and
// results.csv, the current points' records flattened into columns (what the plots read).
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace alisa {

// What makes a record this point's: its settings and what it measures.
std::string result_key(const nlohmann::json& settings, const nlohmann::json& measure);

// The records of results.jsonl by result_key (a later record of a point replaces an earlier);
// a torn last line (the process killed while writing it) is cut off the file. No file: none.
std::map<std::string, nlohmann::json> read_results(const std::filesystem::path& path);

// Appends one record as a line and flushes it to the disk.
void append_result(const std::filesystem::path& path, const nlohmann::json& record);

// A record as one row: "point", the settings' keys, each measurement's fields dotted
// ("bench.total_throughput", "bench.schedule.decode.lanes.compute"; lists left out), "error".
nlohmann::ordered_json result_row(const nlohmann::json& record);

// The rows as CSV: one column per key any row has, in the order they first appear.
void write_results_csv(const std::filesystem::path& path,
                       const std::vector<nlohmann::ordered_json>& rows);

}  // namespace alisa
