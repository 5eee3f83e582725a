// The disk tier's file primitive: a file read and written with O_DIRECT, so offloaded weights
// and KV cache stream at device speed without evicting the page cache or doubling host memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>

namespace alisa {

class DiskFile {
 public:
  // O_DIRECT needs offsets, lengths and buffers aligned to the logical block size; 4096 covers
  // every common device. Callers that pass block-aligned buffers and offsets skip the bounce copy.
  static constexpr size_t kBlock = 4096;

  // An existing file (e.g. a safetensors shard), read-only. Throws alisa::Error naming the path.
  static DiskFile open_read(const std::filesystem::path& path);
  // A new scratch file of n_bytes, its space reserved up front (a full disk fails here, not
  // mid-run). It must not exist yet. Unlinked on destruction unless keep() is called. While open
  // it is kBlock-rounded on disk, so direct writes of its last block never extend it; a kept file
  // is cut back to n_bytes on close.
  static DiskFile create(const std::filesystem::path& path, uint64_t n_bytes);

  DiskFile(DiskFile&& other) noexcept;
  DiskFile& operator=(DiskFile&& other) noexcept;
  DiskFile(const DiskFile&) = delete;
  DiskFile& operator=(const DiskFile&) = delete;
  ~DiskFile();

  // Any offset, length and buffer alignment; [offset, offset + n) must lie within size().
  // Concurrent calls are safe on disjoint ranges, even ranges sharing a kBlock-sized block: an
  // unaligned write read-modify-writes its boundary blocks under a lock.
  void read(uint64_t offset, void* dst, size_t n) const;
  void write(uint64_t offset, const void* src, size_t n);

  // Leaves a created file on disk after destruction.
  void keep() { unlink_on_close_ = false; }
  // Removes a created file's name now; its space lives while it is open, and returns to the
  // filesystem however the process ends (runtime/tiers/scratch_file.h).
  void unlink_now();

  // False where the filesystem refused O_DIRECT (tmpfs): ordinary buffered I/O is used instead.
  bool direct() const { return direct_; }
  const std::filesystem::path& path() const { return path_; }
  uint64_t size() const { return size_; }

 private:
  DiskFile(std::filesystem::path path, int fd, uint64_t size, bool direct, bool writable);
  void close() noexcept;

  // pread/pwrite loops over [offset, offset + n), retrying EINTR and short counts. pread_all
  // returns the bytes read, fewer only at the end of the file.
  size_t pread_all(uint64_t offset, void* dst, size_t n) const;
  void pwrite_all(uint64_t offset, const void* src, size_t n);
  [[noreturn]] void fail_end_of_file(uint64_t offset, size_t n) const;

  std::filesystem::path path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool direct_ = false;
  bool writable_ = false;
  bool unlink_on_close_ = false;
  std::unique_ptr<std::mutex> partial_blocks_ = std::make_unique<std::mutex>();
};

// Bytes available to an unprivileged user in the filesystem holding folder (statvfs).
uint64_t free_disk_bytes(const std::filesystem::path& folder);

}  // namespace alisa
