// All data movement between tiers goes through here: host memory <-> a device's memory (queued
// on the device's transfer queues, returning events), and disk <-> host memory (on the I/O
// worker pool, returning futures). The engine counts the bytes on every link and times every
// span of work for the timeline (stream busy time, overlap, the Chrome trace).
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/ops/ops.h"
#include "runtime/tiers/disk_file.h"
#include "runtime/tiers/io_pool.h"
#include "runtime/tiers/timeline.h"

namespace alisa {

// Synchronous copies for set-up and results (weights at load, logits and tokens back).
// dst (contiguous, on its device) = n_bytes of host memory at src.
void copy_host_to_device(const Tensor& dst, const void* src);
// dst (host memory) = src (contiguous, on its device).
void copy_device_to_host(void* dst, const Tensor& src);

// A queue's spans lie on the timeline lane of the same name, and its copies cross one link:
// weights in and cache in CPU->GPU, cache out GPU->CPU; the compute queue moves no bytes.
Lane lane_of(Queue queue);
std::optional<Link> link_of(Queue queue);

class CopyEngine {
 public:
  // `io` may be null when nothing lives on disk.
  CopyEngine(Device& compute, Timeline& timeline, IoPool* io);
  ~CopyEngine();
  CopyEngine(const CopyEngine&) = delete;
  CopyEngine& operator=(const CopyEngine&) = delete;

  // Starts the clock every span is measured from; call when the device is idle.
  void start_clock();
  // Microseconds since start_clock() on the host's clock (spans of host work).
  double host_now_us() const;

  // An event recorded on `queue` now (valid until settle()).
  Event& record(Queue queue);
  void wait(Queue queue, const Event& event) { compute_.wait(queue, event); }
  void host_wait(const Event& event) { compute_.host_wait(event); }

  // A span of queued work: begin() marks its start on `queue`, end() its end (on the queue's
  // lane, `bytes` on its link), and returns the end event. The span's times are read at settle().
  Event& begin(Queue queue);
  Event& end(Queue queue, Event& start, std::string name, uint64_t bytes = 0);

  // n_bytes between host memory and the compute device, queued on a transfer queue and counted
  // on its link.
  void copy(Queue queue, void* dst, const void* src, size_t n_bytes);
  // dst = src by a kernel of the compute queue reading or writing mapped host memory directly
  // (both tensors are addressed by the compute device). For small per-step exchanges (CPU
  // attention's queries and results): on the GPU a DMA copy would wait behind the bulk weight
  // copies queued on the same copy engine, stalling the compute stream for a whole layer.
  void copy_mapped(Ops& ops, const Tensor& src, const Tensor& dst, Link link);
  // Counts n_bytes that compute kernels read or write in mapped host memory on `link` (sparse
  // window attention reading the selected tokens of a CPU-resident cache in place).
  void count_mapped(Link link, uint64_t n_bytes) { timeline_.count_bytes(link, n_bytes); }

  // Disk reads and writes on the I/O pool, timed on the host clock. A write may wait for an event
  // first (the data it writes is still being copied into its staging buffer).
  std::future<void> read_disk(const DiskFile& file, uint64_t offset, void* dst, size_t n_bytes,
                              std::string name);
  std::future<void> write_disk(DiskFile& file, uint64_t offset, const void* src, size_t n_bytes,
                               std::string name, const Event* after = nullptr);

  // Adds a span of host work (CPU attention) measured with host_now_us().
  void host_span(Lane lane, std::string name, double start_us, double end_us);

  // Call when all queued work is complete: turns the pending spans into timeline spans and
  // recycles the events.
  void settle();

 private:
  struct PendingSpan {
    Lane lane;
    std::string name;
    Event* start;
    Event* end;
    uint64_t bytes;
    std::optional<Link> link;
  };
  Event& fresh_event();
  // Runs a disk read or write (`lane`) on the calling I/O worker, timed on the host clock and
  // counted on the lane's link.
  void timed_disk_io(Lane lane, const std::string& name, size_t n_bytes,
                     const std::function<void()>& io);

  Device& compute_;
  Timeline& timeline_;
  IoPool* io_;
  std::unique_ptr<Event> origin_;
  double origin_host_us_ = 0;
  std::vector<std::unique_ptr<Event>> events_;
  size_t n_events_used_ = 0;
  std::vector<PendingSpan> pending_;
};

}  // namespace alisa
