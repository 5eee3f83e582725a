#include "runtime/tiers/disk_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "runtime/base/common.h"
#include "runtime/core/device.h"
#include "runtime/tiers/disk_faults.h"

namespace alisa {

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kBlock = DiskFile::kBlock;
// Bounce buffers are at most this large, so a huge unaligned read does not allocate its size.
constexpr uint64_t kChunk = uint64_t{8} << 20;

uint64_t align_down(uint64_t x) {
  return x / kBlock * kBlock;
}
uint64_t align_up(uint64_t x) {
  return align_down(x + kBlock - 1);
}

fs::path folder_of(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

// Free space for an error message; never throws, since it runs while reporting another error.
std::string free_text(const fs::path& folder) {
  struct statvfs st {};
  if (::statvfs(folder.c_str(), &st) != 0) return "unknown";
  return format_bytes(static_cast<uint64_t>(st.f_bavail) * st.f_frsize);
}

bool is_disk_full(int error) {
  return error == ENOSPC || error == EFBIG || error == EDQUOT;
}

// A kBlock-aligned bounce buffer; per call rather than thread-local so pool threads do not each
// pin kChunk bytes for their lifetime.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t n) : data(static_cast<std::byte*>(std::aligned_alloc(kBlock, n))) {
    if (data == nullptr) throw std::bad_alloc();
  }
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  std::byte* data;
};

// True when the user buffer and the file offset share their misalignment, so the block-aligned
// middle of the range can go straight between the buffer and the file.
bool shares_alignment(const void* buffer, uint64_t offset) {
  return (reinterpret_cast<uintptr_t>(buffer) - offset) % kBlock == 0;
}

// The pread or pwrite loop over n bytes: `io(done)` moves the rest from `done` on (returning
// ::pread's or ::pwrite's result), EINTR retries and any other error throws `fail(errno, done)`.
// Stops early at 0 bytes (a read's end of file) or an O_DIRECT count that is not a block multiple
// (short only at the end of the file, and unable to resume at that offset). Returns the bytes done.
template <typename Io, typename Fail>
size_t transfer_all(size_t n, bool direct, Io&& io, Fail&& fail) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = io(done);
    if (r < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      throw fail(error, done);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
    if (direct && done % kBlock != 0) break;
  }
  return done;
}

// The O_DIRECT route of [offset, offset + n) between the file and the caller's `buffer`, for
// reads and writes alike: the block-aligned middle goes straight through `direct(mid0, mid1)`
// when the buffer shares the file's alignment; the rest (or everything) goes through an aligned
// bounce buffer, one chunk of at most kChunk at a time: `chunk(bounce, c0, c1, want0, want1)`
// moves the file's [c0, c1), of which [want0, want1) are the caller's bytes.
template <typename Direct, typename Chunk>
void route_direct(uint64_t offset, uint64_t n, const void* buffer, Direct&& direct, Chunk&& chunk) {
  auto bounce = [&](uint64_t begin, uint64_t end) {
    if (begin == end) return;
    const uint64_t a0 = align_down(begin), a1 = align_up(end);
    const uint64_t capacity = std::min(a1 - a0, kChunk);
    AlignedBuffer aligned(capacity);
    for (uint64_t c0 = a0; c0 < a1; c0 += capacity) {
      const uint64_t c1 = std::min(c0 + capacity, a1);
      chunk(aligned.data, c0, c1, std::max(c0, begin), std::min(c1, end));
    }
  };
  const uint64_t end = offset + n;
  const uint64_t mid0 = align_up(offset), mid1 = align_down(end);
  if (mid0 < mid1 && shares_alignment(buffer, offset)) {
    direct(mid0, mid1);
    bounce(offset, mid0);
    bounce(mid1, end);
  } else {
    bounce(offset, end);
  }
}

}  // namespace

DiskFile::DiskFile(fs::path path, int fd, uint64_t size, bool direct, bool writable)
    : path_(std::move(path)), fd_(fd), size_(size), direct_(direct), writable_(writable) {}

DiskFile DiskFile::open_read(const fs::path& path) {
  bool direct = true;
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0 && errno == EINVAL) {  // the filesystem refuses O_DIRECT (tmpfs before Linux 6.6)
    direct = false;
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) {
    const int error = errno;  // read before building the message, which may allocate
    throw Error(str("cannot open ", path.string(), ": ", errno_text(error)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    throw Error(str("cannot stat ", path.string(), ": ", errno_text(error)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(str("cannot read ", path.string(), ": not a regular file"));
  }
  return DiskFile(path, fd, static_cast<uint64_t>(st.st_size), direct, false);
}

DiskFile DiskFile::create(const fs::path& path, uint64_t n_bytes) {
  const fs::path folder = folder_of(path);
  // O_EXCL: a scratch file is unlinked on destruction, so it must be ours, never a user's file.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    throw Error(str("cannot create offload file ", path.string(), ": ", errno_text(error)));
  }
  auto fail = [&](const std::string& message) {
    ::close(fd);
    ::unlink(path.c_str());
    throw Error(message);
  };
  if (n_bytes > static_cast<uint64_t>(INT64_MAX) - kBlock) {
    fail(str("cannot create offload file ", path.string(), ": ", n_bytes, " bytes is too large"));
  }
  // The file is kBlock-rounded so that direct writes of its last block never extend it.
  const uint64_t physical = align_up(n_bytes);
  if (physical > 0) {
    int error;
    do {
      error = detail::injected_disk_fault(DiskOp::kReserve, path);
      if (error == 0) error = ::posix_fallocate(fd, 0, static_cast<off_t>(physical));
    } while (error == EINTR);
    if (is_disk_full(error)) {
      fail(str("disk full: cannot reserve ", format_bytes(n_bytes), " for ", path.string(), " in ",
               folder.string(), " (", free_text(folder), " free)"));
    }
    if (error != 0) {
      fail(str("cannot reserve ", format_bytes(n_bytes), " for ", path.string(), ": ",
               errno_text(error)));
    }
  }
  // O_DIRECT only now: glibc emulates posix_fallocate with small writes where the filesystem
  // lacks fallocate, which a direct descriptor would refuse.
  bool direct = true;
  const int direct_fd = ::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (direct_fd >= 0) {
    ::close(fd);
    fd = direct_fd;
  } else if (errno == EINVAL) {
    direct = false;
  } else {
    const int error = errno;
    fail(str("cannot open ", path.string(), ": ", errno_text(error)));
  }
  DiskFile file(path, fd, n_bytes, direct, true);
  file.unlink_on_close_ = true;
  return file;
}

DiskFile::DiskFile(DiskFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      direct_(other.direct_),
      writable_(other.writable_),
      unlink_on_close_(std::exchange(other.unlink_on_close_, false)),
      partial_blocks_(std::move(other.partial_blocks_)) {}

DiskFile& DiskFile::operator=(DiskFile&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    direct_ = other.direct_;
    writable_ = other.writable_;
    unlink_on_close_ = std::exchange(other.unlink_on_close_, false);
    partial_blocks_ = std::move(other.partial_blocks_);
  }
  return *this;
}

DiskFile::~DiskFile() {
  close();
}

void DiskFile::unlink_now() {
  ALISA_ASSERT(unlink_on_close_,
               "unlink_now of a file that is not a scratch file: ", path_.string());
  if (::unlink(path_.c_str()) != 0) {
    const int error = errno;
    throw Error(str("cannot remove ", path_.string(), ": ", errno_text(error)));
  }
  unlink_on_close_ = false;
}

void DiskFile::close() noexcept {
  if (fd_ >= 0) {
    // A kept file loses its block rounding: best effort, as a destructor cannot report failure
    // (the file is then merely longer than written).
    if (writable_ && !unlink_on_close_) {
      [[maybe_unused]] const int ignored = ::ftruncate(fd_, static_cast<off_t>(size_));
    }
    ::close(fd_);
  }
  if (unlink_on_close_) ::unlink(path_.c_str());
  fd_ = -1;
  unlink_on_close_ = false;
}

size_t DiskFile::pread_all(uint64_t offset, void* dst, size_t n) const {
  auto* out = static_cast<std::byte*>(dst);
  return transfer_all(
      n, direct_,
      [&](size_t got) -> ssize_t {
        if (const int fault = detail::injected_disk_fault(DiskOp::kRead, path_)) {
          if (fault < 0) return 0;  // a short read: the end of a truncated file
          errno = fault;
          return -1;
        }
        return ::pread(fd_, out + got, n - got, static_cast<off_t>(offset + got));
      },
      [&](int error, size_t got) {
        return Error(str("cannot read ", path_.string(), " at offset ", offset + got, " (", n - got,
                         " bytes): ", errno_text(error)));
      });
}

void DiskFile::fail_end_of_file(uint64_t offset, size_t n) const {
  throw Error(str("unexpected end of file: cannot read ", n, " bytes at offset ", offset, " of ",
                  path_.string(), " (", size_, " bytes)"));
}

void DiskFile::pwrite_all(uint64_t offset, const void* src, size_t n) {
  const auto* in = static_cast<const std::byte*>(src);
  const size_t written = transfer_all(
      n, direct_,
      [&](size_t done) -> ssize_t {
        if (const int fault = detail::injected_disk_fault(DiskOp::kWrite, path_)) {
          errno = fault;
          return -1;
        }
        return ::pwrite(fd_, in + done, n - done, static_cast<off_t>(offset + done));
      },
      [&](int error, size_t done) {
        if (!is_disk_full(error)) {
          return Error(str("cannot write ", path_.string(), " at offset ", offset + done, " (",
                           n - done, " bytes): ", errno_text(error)));
        }
        const fs::path folder = folder_of(path_);
        return Error(str("disk full: cannot write ", format_bytes(n - done), " at offset ",
                         offset + done, " of ", path_.string(), " in ", folder.string(), " (",
                         free_text(folder), " free)"));
      });
  if (written < n) {
    // No progress, or a direct write cut mid-block (which cannot resume at that offset).
    throw Error(str("cannot write ", path_.string(), " at offset ", offset + written, " (",
                    n - written, " bytes): short write, is the disk full?"));
  }
}

void DiskFile::read(uint64_t offset, void* dst, size_t n) const {
  ALISA_ASSERT(fd_ >= 0, "read from a closed DiskFile");
  if (offset > size_ || n > size_ - offset) fail_end_of_file(offset, n);
  if (n == 0) return;
  auto* out = static_cast<std::byte*>(dst);
  if (!direct_) {
    if (pread_all(offset, out, n) < n) fail_end_of_file(offset, n);
    return;
  }
  route_direct(
      offset, n, dst,
      [&](uint64_t mid0, uint64_t mid1) {
        if (pread_all(mid0, out + (mid0 - offset), mid1 - mid0) < mid1 - mid0) {
          fail_end_of_file(offset, n);
        }
      },
      [&](std::byte* bounce, uint64_t c0, uint64_t c1, uint64_t want0, uint64_t want1) {
        if (pread_all(c0, bounce, c1 - c0) < want1 - c0) fail_end_of_file(offset, n);
        std::memcpy(out + (want0 - offset), bounce + (want0 - c0), want1 - want0);
      });
}

void DiskFile::write(uint64_t offset, const void* src, size_t n) {
  ALISA_ASSERT(fd_ >= 0, "write to a closed DiskFile");
  ALISA_ASSERT(writable_, path_.string(), " was opened read-only");
  ALISA_ASSERT(offset <= size_ && n <= size_ - offset, "write of ", n, " bytes at offset ", offset,
               " past the end of ", path_.string(), " (", size_, " bytes)");
  if (n == 0) return;
  const auto* in = static_cast<const std::byte*>(src);
  if (!direct_) {
    pwrite_all(offset, in, n);
    return;
  }
  // A block only partly covered is read first so its other bytes survive. The file is
  // kBlock-rounded, so whole blocks always exist.
  route_direct(
      offset, n, src,
      [&](uint64_t mid0, uint64_t mid1) { pwrite_all(mid0, in + (mid0 - offset), mid1 - mid0); },
      [&](std::byte* bounce, uint64_t c0, uint64_t c1, uint64_t want0, uint64_t want1) {
        auto load_block = [&](uint64_t block) {
          if (pread_all(block, bounce + (block - c0), kBlock) < std::min(kBlock, size_ - block)) {
            fail_end_of_file(block, kBlock);  // the file shrank under us
          }
        };
        // Another write may share a partly covered block: read-modify-write those one at a time.
        std::unique_lock<std::mutex> lock(*partial_blocks_, std::defer_lock);
        if (want0 > c0 || want1 < c1) lock.lock();
        if (want0 > c0) load_block(c0);
        if (want1 < c1 && !(want0 > c0 && c1 - c0 == kBlock)) load_block(c1 - kBlock);
        std::memcpy(bounce + (want0 - c0), in + (want0 - offset), want1 - want0);
        pwrite_all(c0, bounce, c1 - c0);
      });
}

uint64_t free_disk_bytes(const fs::path& folder) {
  struct statvfs st {};
  if (::statvfs(folder.c_str(), &st) != 0) {
    const int error = errno;
    throw Error(str("cannot query free space of ", folder.string(), ": ", errno_text(error)));
  }
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace alisa
