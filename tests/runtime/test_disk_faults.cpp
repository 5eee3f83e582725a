// Fault injection into the disk tier (runtime/tiers/disk_faults.h): a full disk, EIO and short
// reads while offloaded weights, the KV cache or activations are written or read each end in one
// clear error naming the file and the reason, and the offload folder is left clean; scratch files
// of processes that are gone are removed at the next start.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <vector>

#include "runtime/jobs/engine.h"
#include "runtime/jobs/job_output.h"
#include "runtime/tiers/disk_faults.h"
#include "runtime/tiers/disk_file.h"
#include "runtime/tiers/scratch_file.h"
#include "tests/runtime/offload_runs.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

int files_in(const fs::path& folder) {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(folder)) ++n;
  return n;
}

// A PID no process has: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

// Greedy tokens of two prompts on opt-tiny, every weight, the cache and the activations on disk.
void generate_on_disk(const fs::path& offload_dir) {
  Engine engine({.model = fixture_path("opt-tiny").string(),
                 .backend = {.device = DeviceChoice::kCpu, .n_threads = 2},
                 .policy = policy_with(0, 0, 0, 0, 0, 0),
                 .offload_dir = offload_dir});
  GenerationOptions options;
  options.max_new_tokens = 4;
  options.batch_size = 2;
  options.stop_at_eos = false;
  engine.generate({{.token_ids = {5, 6, 7}}, {.token_ids = {8, 9}}}, options);
}

}  // namespace

TEST_CASE("DiskFile reports injected faults as one line naming the file and the reason",
          "[disk][faults]") {
  ScratchDir dir;
  std::vector<uint8_t> data(3 * DiskFile::kBlock, 0xab);
  DiskFile file = DiskFile::create(dir / "f.bin", data.size());
  SECTION("EIO on a write") {
    const ScopedDiskFault fault({.op = DiskOp::kWrite, .error = EIO});
    CHECK_THROWS_WITH(file.write(100, data.data(), 1000),
                      Contains("f.bin") && Contains("Input/output error"));
  }
  SECTION("ENOSPC on a write") {
    const ScopedDiskFault fault({.op = DiskOp::kWrite, .error = ENOSPC});
    CHECK_THROWS_WITH(file.write(0, data.data(), data.size()),
                      Contains("disk full") && Contains("f.bin") && Contains("free"));
  }
  SECTION("ENOSPC while the space is reserved leaves no file") {
    const ScopedDiskFault fault({.op = DiskOp::kReserve, .error = ENOSPC});
    CHECK_THROWS_WITH(DiskFile::create(dir / "g.bin", 1 << 20),
                      Contains("disk full: cannot reserve") && Contains("g.bin"));
    CHECK_FALSE(fs::exists(dir / "g.bin"));
  }
  SECTION("a short read: the end of a truncated file") {
    file.write(0, data.data(), data.size());
    const ScopedDiskFault fault({.op = DiskOp::kRead});
    std::vector<uint8_t> back(data.size());
    CHECK_THROWS_WITH(file.read(0, back.data(), back.size()),
                      Contains("unexpected end of file") && Contains("f.bin"));
  }
  SECTION("a transient EINTR is retried, the data intact") {
    file.write(0, data.data(), data.size());
    const ScopedDiskFault fault({.op = DiskOp::kRead, .error = EINTR, .once = true});
    std::vector<uint8_t> back(data.size());
    file.read(0, back.data(), back.size());
    CHECK(fault.hits() == 1);
    CHECK(back == data);
  }
}

TEST_CASE("faults while the disk tier is written or read end the run cleanly",
          "[offload][faults]") {
  ScratchDir dir;
  SECTION("a full disk while the offloaded weights are written") {
    const ScopedDiskFault fault(
        {.op = DiskOp::kWrite, .error = ENOSPC, .file_part = "alisa-weights-", .skip = 3});
    CHECK_THROWS_WITH(generate_on_disk(dir.path()),
                      Contains("disk full") && Contains("alisa-weights-"));
  }
  SECTION("EIO while the KV cache is written") {
    const ScopedDiskFault fault(
        {.op = DiskOp::kWrite, .error = EIO, .file_part = "alisa-kv-cache-", .skip = 2});
    CHECK_THROWS_WITH(generate_on_disk(dir.path()),
                      Contains("alisa-kv-cache-") && Contains("Input/output error"));
    CHECK(fault.hits() >= 1);
  }
  SECTION("EIO while activations are read back") {
    const ScopedDiskFault fault(
        {.op = DiskOp::kRead, .error = EIO, .file_part = "alisa-activations-", .skip = 1});
    CHECK_THROWS_WITH(generate_on_disk(dir.path()),
                      Contains("alisa-activations-") && Contains("Input/output error"));
  }
  SECTION("a short read of the offloaded weights") {
    const ScopedDiskFault fault({.op = DiskOp::kRead, .file_part = "alisa-weights-"});
    CHECK_THROWS_WITH(generate_on_disk(dir.path()),
                      Contains("alisa-weights-") && Contains("end of file"));
  }
  SECTION("no fault: the same run succeeds") {
    generate_on_disk(dir.path());
  }
  // Scratch files are unlinked once open: nothing is left, whatever ended the run.
  CHECK(files_in(dir.path()) == 0);
}

TEST_CASE("a job output line that a full disk cuts short is taken back whole", "[jobs][faults]") {
  ScratchDir dir;
  const fs::path path = dir / "out.jsonl";
  JobOutput output(path, false);
  output.write({{"id", 1}, {"text", "first"}});
  const auto whole = fs::file_size(path);
  // The file may grow 10 bytes more: the next line's write(2) is cut short, then fails (EFBIG).
  struct rlimit old {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit capped = old;
  capped.rlim_cur = whole + 10;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &capped) == 0);
  CHECK_THROWS_WITH(output.write({{"id", 2}, {"text", std::string(100, 'x')}}),
                    Contains("out.jsonl") && Contains("File too large"));
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  CHECK(fs::file_size(path) == whole);
  CHECK(read_text(path) == "{\"id\":1,\"text\":\"first\"}\n");
}

TEST_CASE("scratch files of processes that are gone are removed at the next start",
          "[offload][faults]") {
  ScratchDir dir;
  const pid_t gone = dead_pid();
  const fs::path stale = dir / ("alisa-kv-cache-" + std::to_string(gone) + ".bin");
  const fs::path live = dir / "alisa-weights-1.bin";  // PID 1 is alive
  const fs::path other = dir / "notes.bin";
  for (const fs::path& path : {stale, live, other}) write_text(path, "x");
  CHECK(remove_stale_scratch_files(dir.path()) == 1);
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(live));
  CHECK(fs::exists(other));

  write_text(stale, "x");
  generate_on_disk(dir.path());  // a run with disk homes sweeps the folder first
  CHECK_FALSE(fs::exists(stale));
  CHECK(files_in(dir.path()) == 2);
}

}  // namespace alisa::test
