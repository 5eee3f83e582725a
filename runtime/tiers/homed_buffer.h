// HomedBuffer: bytes whose home is one tier (the KV cache of one layer and GPU batch, or one GPU
// batch's hidden states). The compute side works on a compute home in place; other homes are
// loaded into a compute slot before use and the changed range stored back after.
#pragma once

#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tiers/copy_engine.h"
#include "runtime/tiers/tiers.h"

namespace alisa {

// A scratch file in the offload folder cut into n_regions equal regions (each rounded up to
// the disk block), handed out in turn to disk homes; deleted with this object.
class OffloadRegions {
 public:
  // The file is alisa-WHAT-PID.bin in `folder` (created if missing).
  OffloadRegions(const std::filesystem::path& folder, const std::string& what, uint64_t n_regions,
                 uint64_t region_bytes);
  // The file and the offset of the next free region.
  std::pair<DiskFile*, uint64_t> next();

 private:
  std::unique_ptr<DiskFile> file_;
  uint64_t stride_ = 0;
  uint64_t n_regions_ = 0, n_used_ = 0;
};

class HomedBuffer {
 public:
  HomedBuffer() = default;
  // Compute and CPU homes allocate on their tier; a disk home takes the next region of `disk`.
  HomedBuffer(Tier home, size_t n_bytes, const Tiers& tiers, OffloadRegions* disk,
              const std::string& purpose);

  Tier home() const { return home_; }
  size_t n_bytes() const { return n_bytes_; }
  // The home's memory (compute and CPU homes).
  void* data() const { return buffer_.data(); }

  // Queues on `queue` the copy of bytes [offset, offset + n) from home into dst (compute
  // memory). A disk home waits for its pending writes, reads into `staging` (host memory of >= n
  // bytes) on the I/O pool and waits for the copy: disk loads are synchronous.
  void load(size_t offset, size_t n, void* dst, Queue queue, CopyEngine& copies,
            void* staging) const;
  // Queues on `queue` the copy of src (compute memory) into bytes [offset, offset + n) of home.
  // A disk home copies into `staging` (host memory of >= n bytes) and returns the write that
  // follows on the I/O pool once the copy is done: `staging` must stay untouched, and the
  // CopyEngine's events unsettled, until it completes. Other homes return an empty future.
  std::shared_future<void> store(size_t offset, size_t n, const void* src, Queue queue,
                                 CopyEngine& copies, void* staging);

 private:
  Tier home_ = Tier::kCompute;
  size_t n_bytes_ = 0;
  Buffer buffer_;
  DiskFile* file_ = nullptr;
  uint64_t file_offset_ = 0;
  std::vector<std::shared_future<void>> pending_writes_;  // disk home: stores still writing
};

}  // namespace alisa
