// DiskFile and IoPool: O_DIRECT round trips at unaligned offsets, lengths and buffers, the end of
// the file, disk full (through RLIMIT_FSIZE), concurrent I/O on a pool, and job exceptions.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/base/common.h"
#include "runtime/tiers/disk_file.h"
#include "runtime/tiers/io_pool.h"
#include "tests/test_support.h"

using alisa::DiskFile;
using alisa::IoPool;
using alisa::test::ScratchDir;
using Catch::Contains;

namespace {

constexpr size_t kBlock = DiskFile::kBlock;

// n bytes starting `misalign` bytes past a block boundary, so tests choose the buffer alignment.
class Buffer {
 public:
  Buffer(size_t n, size_t misalign)
      : base_(static_cast<uint8_t*>(
            std::aligned_alloc(kBlock, (n + misalign) / kBlock * kBlock + kBlock))),
        data_(base_ + misalign),
        n_(n) {
    if (base_ == nullptr) throw std::bad_alloc();
  }
  ~Buffer() { std::free(base_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  uint8_t* data() { return data_; }
  size_t size() const { return n_; }

 private:
  uint8_t* base_;
  uint8_t* data_;
  size_t n_;
};

void fill_random(uint8_t* data, size_t n, std::mt19937_64& rng) {
  for (size_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>(rng());
}

// Lowers RLIMIT_FSIZE so writes past `limit` fail with EFBIG (SIGXFSZ ignored); restores both.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t limit) {
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    saved_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = saved_;
    lowered.rlim_cur = limit;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lowered) == 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, saved_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  void (*saved_handler_)(int) = SIG_DFL;
};

// The message of the alisa::Error that fn throws; "" when it throws nothing. Runs with no Catch
// output in between, so it is safe under a lowered file size limit.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const alisa::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("DiskFile keeps concurrent writes to disjoint ranges of the same blocks", "[disk]") {
  // Writers interleave 100-byte ranges, so every block is shared by several of them and each
  // write read-modify-writes its boundary blocks (the int8 KV cache's parts are stored so).
  ScratchDir dir;
  constexpr size_t kRange = 100, kWriters = 4, kRangesEach = 200;
  constexpr size_t kSize = kRange * kWriters * kRangesEach;
  DiskFile file = DiskFile::create(dir / "shared-blocks.bin", kSize);
  INFO("direct I/O: " << file.direct());
  std::vector<std::future<void>> writers;
  for (size_t w = 0; w < kWriters; ++w) {
    writers.push_back(std::async(std::launch::async, [&file, w] {
      std::vector<uint8_t> bytes(kRange, static_cast<uint8_t>(w + 1));
      for (size_t i = 0; i < kRangesEach; ++i) {
        file.write((i * kWriters + w) * kRange, bytes.data(), kRange);
      }
    }));
  }
  for (std::future<void>& writer : writers) writer.get();
  std::vector<uint8_t> back(kSize);
  file.read(0, back.data(), kSize);
  size_t n_wrong = 0;
  for (size_t at = 0; at < kSize; ++at) {
    n_wrong += back[at] != static_cast<uint8_t>((at / kRange) % kWriters + 1);
  }
  CHECK(n_wrong == 0);
}

TEST_CASE("DiskFile round-trips data at unaligned offsets, lengths and buffers", "[disk]") {
  ScratchDir dir;
  const auto path = dir / "scratch.bin";
  constexpr size_t kSize = (20u << 20) + 1234;  // past the 8 MiB bounce chunk, unaligned end
  std::vector<uint8_t> shadow(kSize, 0);        // reserved space reads as zeros
  std::mt19937_64 rng(42);
  {
    DiskFile file = DiskFile::create(path, kSize);
    CHECK(file.size() == kSize);
    CHECK(file.path() == path);
    CHECK(std::filesystem::exists(path));
    INFO("direct I/O: " << file.direct());

    // The whole file at once, from a misaligned buffer: the bounce path across chunks.
    {
      Buffer all(kSize, 17);
      fill_random(all.data(), kSize, rng);
      file.write(0, all.data(), kSize);
      std::memcpy(shadow.data(), all.data(), kSize);
    }

    struct Case {
      uint64_t offset;
      size_t n;
    };
    std::vector<Case> cases = {
        {0, 1},                      // tiny, aligned start
        {kBlock - 3, 7},             // straddles a block boundary
        {5 * kBlock, kBlock},        // exactly one aligned block
        {3 * kBlock + 100, kBlock},  // one block's length, two blocks touched
        {123, 3 * kBlock},           // unaligned head, middle, tail
        {kSize - 10, 10},            // the unaligned end of the file
        {kSize - 3 * kBlock - 5, 3 * kBlock + 5},
        {777, (9u << 20) + 4321},     // multi-MiB, more than one bounce chunk
        {(1u << 20) + 50, 2u << 20},  // multi-MiB
        {kSize - 1, 1},
    };
    std::uniform_int_distribution<uint64_t> any_offset(0, kSize - 1);
    for (int i = 0; i < 40; ++i) {
      const uint64_t offset = any_offset(rng);
      const size_t max_n = std::min<uint64_t>(kSize - offset, 3 * kBlock);
      cases.push_back({offset, static_cast<size_t>(rng() % max_n) + 1});
    }

    for (size_t i = 0; i < cases.size(); ++i) {
      const Case c = cases[i];
      // Alternate buffers that share the offset's misalignment (direct middle) and ones that do
      // not (bounce only).
      const size_t misalign = i % 2 == 0 ? c.offset % kBlock : (c.offset + 1 + i) % kBlock;
      INFO("case " << i << ": offset " << c.offset << ", " << c.n << " bytes, misalign "
                   << misalign);
      Buffer src(c.n, misalign);
      fill_random(src.data(), c.n, rng);
      file.write(c.offset, src.data(), c.n);
      std::memcpy(shadow.data() + c.offset, src.data(), c.n);

      Buffer dst(c.n, (misalign + i) % kBlock);
      file.read(c.offset, dst.data(), c.n);
      REQUIRE(std::memcmp(dst.data(), shadow.data() + c.offset, c.n) == 0);
    }

    // Neighbouring bytes survived every read-modify-write.
    Buffer all(kSize, 0);
    file.read(0, all.data(), kSize);
    REQUIRE(std::memcmp(all.data(), shadow.data(), kSize) == 0);

    // The same bytes through a fresh read-only descriptor, at an unaligned offset.
    DiskFile reader = DiskFile::open_read(path);
    CHECK(reader.size() == (kSize + kBlock - 1) / kBlock * kBlock);  // rounded while open
    Buffer part(kSize - 999, 3);
    reader.read(999, part.data(), kSize - 999);
    REQUIRE(std::memcmp(part.data(), shadow.data() + 999, kSize - 999) == 0);
  }
  CHECK_FALSE(std::filesystem::exists(path));  // scratch files are unlinked
}

TEST_CASE("DiskFile reads a file of unaligned size up to its end and not past it", "[disk]") {
  ScratchDir dir;
  const auto path = dir / "shard.safetensors";
  std::string text(10000, '\0');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 7 + 3);
  alisa::test::write_text(path, text);

  DiskFile file = DiskFile::open_read(path);
  CHECK(file.size() == 10000);
  for (auto [offset, n] : {std::pair<uint64_t, size_t>{0, 10000},
                           {9000, 1000},
                           {8192, 1808},
                           {4095, 5905},
                           {9999, 1},
                           {10000, 0}}) {
    INFO("offset " << offset << ", " << n << " bytes");
    std::vector<char> out(n + 1);
    file.read(offset, out.data(), n);
    CHECK(std::string(out.data(), n) == text.substr(offset, n));
  }
  std::vector<char> out(8192);
  for (auto [offset, n] : {std::pair<uint64_t, size_t>{9000, 1001},
                           {10000, 1},
                           {20000, 8},
                           {0, 10001},
                           {1, UINT64_MAX}}) {
    INFO("offset " << offset << ", " << n << " bytes");
    REQUIRE_THROWS_AS(file.read(offset, out.data(), n), alisa::Error);
    REQUIRE_THROWS_WITH(file.read(offset, out.data(), n), Contains(path.string()) &&
                                                              Contains("unexpected end of file") &&
                                                              Contains(std::to_string(offset)));
  }
  // Reading never unlinks a file it did not create.
  { DiskFile again = DiskFile::open_read(path); }
  CHECK(std::filesystem::exists(path));
}

TEST_CASE("DiskFile open and create errors name the file", "[disk]") {
  ScratchDir dir;
  const auto missing = dir / "no-such-shard.safetensors";
  REQUIRE_THROWS_AS(DiskFile::open_read(missing), alisa::Error);
  REQUIRE_THROWS_WITH(DiskFile::open_read(missing),
                      Contains(missing.string()) && Contains("No such file"));
  REQUIRE_THROWS_WITH(DiskFile::open_read(dir.path()),
                      Contains(dir.path().string()) && Contains("not a regular file"));

  // create never takes over (and later unlinks) a file that is already there.
  const auto existing = dir / "existing.bin";
  alisa::test::write_text(existing, "keep me");
  REQUIRE_THROWS_WITH(DiskFile::create(existing, 4096),
                      Contains(existing.string()) && Contains("exists"));
  CHECK(alisa::test::read_text(existing) == "keep me");

  REQUIRE_THROWS_WITH(DiskFile::create(dir / "no-such-folder" / "x.bin", 4096),
                      Contains("no-such-folder"));
  REQUIRE_THROWS_WITH(alisa::free_disk_bytes(dir / "no-such-folder"), Contains("no-such-folder"));
  CHECK(alisa::free_disk_bytes(dir.path()) > 0);
}

TEST_CASE("DiskFile keep, move and empty files", "[disk]") {
  ScratchDir dir;
  const auto kept = dir / "kept.bin";
  {
    DiskFile file = DiskFile::create(kept, 100);
    const uint8_t bytes[3] = {1, 2, 3};
    file.write(97, bytes, 3);
    file.keep();
  }
  REQUIRE(std::filesystem::exists(kept));
  CHECK(std::filesystem::file_size(kept) == 100);  // the block rounding is cut back
  {
    DiskFile file = DiskFile::open_read(kept);
    uint8_t bytes[4] = {};
    file.read(96, bytes, 4);
    CHECK((bytes[0] == 0 && bytes[1] == 1 && bytes[2] == 2 && bytes[3] == 3));
  }

  const auto moved = dir / "moved.bin";
  {
    DiskFile a = DiskFile::create(moved, 5000);
    DiskFile b = std::move(a);
    DiskFile c = DiskFile::create(dir / "other.bin", 10);
    c = std::move(b);  // closes and unlinks other.bin
    CHECK_FALSE(std::filesystem::exists(dir / "other.bin"));
    CHECK(std::filesystem::exists(moved));
    CHECK(c.size() == 5000);
  }
  CHECK_FALSE(std::filesystem::exists(moved));

  DiskFile empty = DiskFile::create(dir / "empty.bin", 0);
  CHECK(empty.size() == 0);
  empty.read(0, nullptr, 0);
  REQUIRE_THROWS_WITH(empty.read(0, nullptr, 1), Contains("unexpected end of file"));
}

TEST_CASE("DiskFile reports a full disk as one line naming the file", "[disk]") {
  ScratchDir dir;
  const auto big = dir / "too-big.bin";
  const auto small = dir / "small.bin";
  DiskFile file = DiskFile::create(small, 1 << 20);
  std::vector<uint8_t> data(3 * kBlock, 0xab);
  Buffer aligned(kBlock, 0);
  std::memset(aligned.data(), 0xcd, kBlock);

  std::string create_error, aligned_error, unaligned_error, inside_error = "not run";
  {
    FileSizeLimit limit(256 << 10);
    create_error = error_of([&] { DiskFile::create(big, 1 << 20); });
    aligned_error = error_of([&] { file.write(512 << 10, aligned.data(), kBlock); });
    unaligned_error = error_of([&] { file.write((512 << 10) + 100, data.data(), data.size()); });
    inside_error = error_of([&] { file.write(1000, data.data(), data.size()); });
  }
  CHECK_THAT(create_error, Contains("disk full") && Contains(big.string()) &&
                               Contains(dir.path().string()) && Contains("free"));
  CHECK_FALSE(std::filesystem::exists(big));  // a failed create leaves nothing behind
  CHECK_THAT(aligned_error, Contains("disk full") && Contains(small.string()));
  CHECK_THAT(unaligned_error, Contains("disk full") && Contains(small.string()));
  CHECK(inside_error.empty());  // below the limit writes still work

  std::vector<uint8_t> back(data.size());
  file.read(1000, back.data(), back.size());
  CHECK(back == data);
}

TEST_CASE("DiskFile serves concurrent reads and writes from an IoPool", "[disk]") {
  ScratchDir dir;
  constexpr size_t kSize = 4u << 20;
  DiskFile file = DiskFile::create(dir / "pool.bin", kSize);
  std::vector<uint8_t> data(kSize);
  std::mt19937_64 rng(7);
  fill_random(data.data(), kSize, rng);

  IoPool pool;
  CHECK(pool.n_threads() == 4);
  // Disjoint block-aligned slices, written concurrently from misaligned buffers.
  constexpr size_t kSlice = 64 * kBlock;
  std::vector<std::future<void>> writes;
  for (size_t offset = 0; offset < kSize; offset += kSlice) {
    writes.push_back(pool.submit([&, offset] { file.write(offset, &data[offset], kSlice); }));
  }
  for (auto& w : writes) w.get();

  // Overlapping random reads, unaligned, checked inside the jobs (Catch is not thread-safe).
  std::vector<std::future<void>> reads;
  for (int i = 0; i < 64; ++i) {
    const uint64_t offset = rng() % kSize;
    const size_t n = static_cast<size_t>(rng() % std::min<uint64_t>(kSize - offset, 200000)) + 1;
    reads.push_back(pool.submit([&, offset, n] {
      std::vector<uint8_t> out(n);
      file.read(offset, out.data(), n);
      if (std::memcmp(out.data(), &data[offset], n) != 0) {
        throw std::runtime_error("mismatch at offset " + std::to_string(offset));
      }
    }));
  }
  for (auto& r : reads) REQUIRE_NOTHROW(r.get());
}

TEST_CASE("IoPool runs jobs FIFO, drains on destruction and surfaces job exceptions", "[disk]") {
  std::vector<int> order;
  std::atomic<int> count{0};
  std::future<void> failed;
  {
    IoPool pool(1);
    failed = pool.submit([] { throw alisa::Error("cannot read shard.bin"); });
    for (int i = 0; i < 100; ++i) {
      pool.submit([&, i] {
        order.push_back(i);  // one thread: no race
        ++count;
      });
    }
  }  // the destructor runs every queued job before joining
  CHECK(count == 100);
  std::vector<int> expected(100);
  for (int i = 0; i < 100; ++i) expected[i] = i;
  CHECK(order == expected);
  REQUIRE_THROWS_AS(failed.get(), alisa::Error);

  IoPool pool(3);
  auto bad = pool.submit([] { throw std::runtime_error("boom"); });
  auto good = pool.submit([&] { ++count; });
  REQUIRE_THROWS_WITH(bad.get(), "boom");
  good.get();
  CHECK(count == 101);
}
