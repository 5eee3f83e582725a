#include "runtime/calibrate/calibrate_disk.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "runtime/base/common.h"
#include "runtime/calibrate/calibrate_timing.h"
#include "runtime/tiers/disk_file.h"
#include "runtime/tiers/io_pool.h"

namespace alisa {
namespace {

namespace fs = std::filesystem;
using namespace calibration;  // the folder's timing helpers

constexpr int kLatencyRequests = 1000;  // single-block disk requests timed, one in flight

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

}  // namespace

void prepare_disk_dir(const fs::path& folder) {
  std::error_code error;
  fs::create_directories(folder, error);
  ALISA_CHECK(!error, "--disk-dir ", folder.string(), ": cannot create it: ", error.message());
  ALISA_CHECK(::access(folder.c_str(), W_OK) == 0, "--disk-dir ", folder.string(),
              " is not writable: ", errno_text(errno));
}

DiskRates measure_disk(const fs::path& folder, uint64_t n_bytes, size_t write_request_bytes,
                       size_t read_request_bytes) {
  for (const size_t request : {write_request_bytes, read_request_bytes}) {
    ALISA_CHECK(request > 0 && request % DiskFile::kBlock == 0, "disk calibration: request size ",
                request, " is not a multiple of ", DiskFile::kBlock);
  }
  const size_t request_bytes = std::max(write_request_bytes, read_request_bytes);
  ALISA_CHECK(request_bytes % std::min(write_request_bytes, read_request_bytes) == 0,
              "disk calibration: request sizes ", write_request_bytes, " and ", read_request_bytes,
              " do not divide one another");
  n_bytes = round_up(std::max<uint64_t>(n_bytes, request_bytes), request_bytes);
  prepare_disk_dir(folder);
  const fs::path path = folder / ("alisa-calibrate-" + std::to_string(::getpid()) + ".bin");
  DiskFile file = DiskFile::create(path, n_bytes);  // unlinked when it goes out of scope
  // Block-aligned, so O_DIRECT requests go straight from and into it.
  std::unique_ptr<char, FreeDeleter> buffer(
      static_cast<char*>(std::aligned_alloc(DiskFile::kBlock, n_bytes)));
  ALISA_CHECK(buffer != nullptr, "disk calibration: cannot allocate ", n_bytes, " bytes");
  tbb::parallel_for(tbb::blocked_range<uint64_t>(0, n_bytes / 8), [&](auto r) {
    for (uint64_t i = r.begin(); i < r.end(); ++i) {
      const uint64_t value = mix(i);
      std::memcpy(buffer.get() + i * 8, &value, 8);
    }
  });
  IoPool pool;  // the runtime's disk tier: a few requests in flight
  auto pass = [&](bool write) {
    return seconds_of([&] {
      if (!write) {  // one request at a time
        for (uint64_t offset = 0; offset < n_bytes; offset += read_request_bytes) {
          file.read(offset, buffer.get() + offset, read_request_bytes);
        }
        return;
      }
      std::vector<std::future<void>> done;
      for (uint64_t offset = 0; offset < n_bytes; offset += write_request_bytes) {
        char* data = buffer.get() + offset;
        done.push_back(pool.submit([&file, offset, data, write_request_bytes] {
          file.write(offset, data, write_request_bytes);
        }));
      }
      for (std::future<void>& f : done) f.get();
    });
  };
  // One warm-up pass, then the best of kTransferRuns: a disk's rate dips with background work,
  // never rises above itself.
  auto best = [&](bool write) { return best_of_runs([&] { return pass(write); }); };
  const double write_seconds = best(true);
  const double read_seconds = best(false);
  // One block at a time at scattered offsets (a mean, as the cost model adds them up): what the
  // runtime's single-token cache writes and per-unit reads pay beyond their bytes.
  const uint64_t n_blocks = n_bytes / DiskFile::kBlock;
  auto latency_us = [&](bool write) {
    auto request = [&](int i) {
      const uint64_t offset =
          mix(static_cast<uint64_t>(i) ^ (write ? 1 : 0)) % n_blocks * DiskFile::kBlock;
      char* data = buffer.get() + offset;
      if (write) {
        file.write(offset, data, DiskFile::kBlock);
      } else {
        file.read(offset, data, DiskFile::kBlock);
      }
    };
    for (int i = 0; i < kLatencyRequests / 20; ++i) request(-1 - i);  // warm-up
    return 1e6 * seconds_of([&] {
             for (int i = 0; i < kLatencyRequests; ++i) request(i);
           }) /
           kLatencyRequests;
  };
  const double write_latency = latency_us(true);
  const double read_latency = latency_us(false);
  const double gb = static_cast<double>(n_bytes) / 1e9;
  return {.read_gbps = gb / read_seconds,
          .write_gbps = gb / write_seconds,
          .read_latency_us = read_latency,
          .write_latency_us = write_latency,
          .direct = file.direct()};
}

}  // namespace alisa
