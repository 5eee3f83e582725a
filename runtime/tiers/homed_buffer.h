// HomedBuffer: bytes whose home is one tier (the KV cache of one layer and GPU batch, or one GPU
// batch's hidden states). The compute side works on a compute home in place; other homes are
// loaded into a compute slot before use and the changed range stored back after.
#pragma once

#include <future>
#include <string>
#include <vector>

#include "runtime/tiers/copy_engine.h"
#include "runtime/tiers/tiers.h"

namespace alisa {

class HomedBuffer {
 public:
  HomedBuffer() = default;
  // Compute and CPU homes allocate on their tier; a disk home is `file` from file_offset.
  HomedBuffer(Tier home, size_t n_bytes, const Tiers& tiers, DiskFile* file, uint64_t file_offset,
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
