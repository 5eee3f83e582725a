#include "runtime/tiers/homed_buffer.h"

#include <unistd.h>

#include <chrono>
#include <tuple>

#include "runtime/tiers/scratch_file.h"

namespace alisa {

OffloadRegions::OffloadRegions(const std::filesystem::path& folder, const std::string& what,
                               uint64_t n_regions, uint64_t region_bytes)
    : stride_(round_up(region_bytes, DiskFile::kBlock)), n_regions_(n_regions) {
  file_ = create_scratch_file(folder, what, n_regions * stride_);
}

std::pair<DiskFile*, uint64_t> OffloadRegions::next() {
  ALISA_ASSERT(n_used_ < n_regions_, "more disk homes than regions in ", file_->path().string());
  return {file_.get(), stride_ * n_used_++};
}

HomedBuffer::HomedBuffer(Tier home, size_t n_bytes, const Tiers& tiers, OffloadRegions* disk,
                         const std::string& purpose)
    : home_(home), n_bytes_(n_bytes) {
  if (home == Tier::kCompute) buffer_ = tiers.compute->allocate(n_bytes, purpose);
  if (home == Tier::kCpu) buffer_ = tiers.cpu->allocate(n_bytes, purpose);
  if (home == Tier::kDisk) {
    ALISA_ASSERT(disk != nullptr, purpose, " on disk without a file");
    std::tie(file_, file_offset_) = disk->next();
  }
}

void HomedBuffer::load(size_t offset, size_t n, void* dst, Queue queue, CopyEngine& copies,
                       void* staging) const {
  ALISA_ASSERT(offset + n <= n_bytes_, "load past the end of a homed buffer");
  if (n == 0) return;
  if (home_ == Tier::kCpu) {
    copies.copy(queue, dst, static_cast<const char*>(data()) + offset, n);
    return;
  }
  ALISA_ASSERT(home_ == Tier::kDisk, "load of a compute-resident buffer");
  for (const std::shared_future<void>& write : pending_writes_) write.get();
  copies.read_disk(*file_, file_offset_ + offset, staging, n, "load from disk").get();
  copies.copy(queue, dst, staging, n);
  copies.host_wait(copies.record(queue));  // the staging is reused at once
}

std::shared_future<void> HomedBuffer::store(size_t offset, size_t n, const void* src, Queue queue,
                                            CopyEngine& copies, void* staging) {
  ALISA_ASSERT(offset + n <= n_bytes_, "store past the end of a homed buffer");
  if (n == 0) return {};
  if (home_ == Tier::kCpu) {
    copies.copy(queue, static_cast<char*>(data()) + offset, src, n);
    return {};
  }
  ALISA_ASSERT(home_ == Tier::kDisk, "store of a compute-resident buffer");
  copies.copy(queue, staging, src, n);
  const Event& copied = copies.record(queue);
  // Writes that are done need not be waited for again.
  std::erase_if(pending_writes_, [](const std::shared_future<void>& write) {
    return write.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  });
  pending_writes_.push_back(
      copies.write_disk(*file_, file_offset_ + offset, staging, n, "store to disk", &copied)
          .share());
  return pending_writes_.back();
}

}  // namespace alisa
