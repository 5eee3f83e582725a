// A batch job's output: one whole JSON line per write(2), so that after a crash every line is
// whole or absent (a torn last line, from power loss, is repaired on resume); synced to disk at
// block boundaries and every few seconds. Resume reads what is there and skips it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "runtime/jobs/id_set.h"

namespace alisa {

// The records an output already holds, by id_hash.
struct WrittenRecords {
  IdSet done;  // ids with their record (a result or an error)
  // Records that complete no id: errors for repeats of an id, and for lines without a readable
  // id (by id_hash(null)). Written in line order, so a resume skips the first so many again.
  std::unordered_map<uint64_t, int64_t> repeats;
  int64_t lines = 0;
  int64_t repaired_bytes = 0;  // a torn last line cut off
};

// Reads `path` (alisa's or OpenAI's records, told apart by custom_id) and cuts off a torn last
// line. A damaged line before the last is an error naming it.
WrittenRecords scan_output(const std::filesystem::path& path);

class JobOutput {
 public:
  // Appends to `path` (truncated first unless `keep`); stdout when the path is empty or "-".
  JobOutput(const std::filesystem::path& path, bool keep);
  ~JobOutput();
  JobOutput(const JobOutput&) = delete;
  JobOutput& operator=(const JobOutput&) = delete;

  void write(const nlohmann::json& record);
  // Flushes to the disk now (fsync), or when the last sync is a few seconds old.
  void sync();
  void sync_if_due();

 private:
  std::filesystem::path path_;
  int fd_ = 1;
  bool owned_ = false;
  std::chrono::steady_clock::time_point last_sync_;
};

}  // namespace alisa
