// The disk measurements of `alisa calibrate`: the runtime's disk tier (DiskFile, O_DIRECT) read
// and written in a scratch file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace alisa {

struct DiskRates {
  double read_gbps = 0;
  double write_gbps = 0;
  double read_latency_us = 0;  // one block's request, one in flight (mean)
  double write_latency_us = 0;
  bool direct = true;  // false: the filesystem refused O_DIRECT, the page cache was in the way
};

// Writes an n_bytes scratch file in `folder` (DiskFile, O_DIRECT where the filesystem allows) in
// requests of write_request_bytes on the runtime's I/O pool, then reads it back in requests of
// read_request_bytes, one at a time; each a warm-up pass, then the best of five. Then times
// single-block requests at scattered offsets. The file is
// removed after. Throws alisa::Error when the folder is not writable.
DiskRates measure_disk(const std::filesystem::path& folder, uint64_t n_bytes,
                       size_t write_request_bytes, size_t read_request_bytes);

// Creates the folder when missing; throws alisa::Error naming it when it cannot be written.
void prepare_disk_dir(const std::filesystem::path& folder);

}  // namespace alisa
