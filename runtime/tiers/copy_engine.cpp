#include "runtime/tiers/copy_engine.h"

#include <chrono>

namespace alisa {

Lane lane_of(Queue queue) {
  // Indexed by Queue: kCompute, kWeightsIn, kCacheIn, kCacheOut.
  static constexpr Lane kLanes[kNumQueues] = {Lane::kCompute, Lane::kWeightsIn, Lane::kCacheIn,
                                              Lane::kCacheOut};
  return kLanes[static_cast<size_t>(queue)];
}

std::optional<Link> link_of(Queue queue) {
  return lane_link(lane_of(queue));
}
namespace {

double steady_us() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void copy_host_to_device(const Tensor& dst, const void* src) {
  ALISA_ASSERT(dst.is_contiguous() && dst.device() != nullptr, "copy to ", dst.shape_string());
  dst.device()->copy_from_host(dst.data(), src, dst.n_bytes());
}

void copy_device_to_host(void* dst, const Tensor& src) {
  ALISA_ASSERT(src.is_contiguous() && src.device() != nullptr, "copy from ", src.shape_string());
  src.device()->copy_to_host(dst, src.data(), src.n_bytes());
}

CopyEngine::CopyEngine(Device& compute, Timeline& timeline, IoPool* io)
    : compute_(compute), timeline_(timeline), io_(io) {
  origin_ = compute_.create_event();
  start_clock();
}

CopyEngine::~CopyEngine() = default;

void CopyEngine::start_clock() {
  compute_.record(*origin_, Queue::kCompute);
  compute_.host_wait(*origin_);
  origin_host_us_ = steady_us();
}

double CopyEngine::host_now_us() const {
  return steady_us() - origin_host_us_;
}

Event& CopyEngine::fresh_event() {
  if (n_events_used_ == events_.size()) events_.push_back(compute_.create_event());
  return *events_[n_events_used_++];
}

Event& CopyEngine::record(Queue queue) {
  Event& event = fresh_event();
  compute_.record(event, queue);
  return event;
}

Event& CopyEngine::begin(Queue queue) {
  return record(queue);
}

Event& CopyEngine::end(Queue queue, Event& start, std::string name, uint64_t bytes) {
  Event& finish = record(queue);
  pending_.push_back({lane_of(queue), std::move(name), &start, &finish, bytes, link_of(queue)});
  return finish;
}

void CopyEngine::copy(Queue queue, void* dst, const void* src, size_t n_bytes) {
  const std::optional<Link> link = link_of(queue);
  ALISA_ASSERT(link.has_value(), "a copy on the compute queue");
  if (n_bytes == 0) return;
  compute_.copy_async(queue, dst, src, n_bytes);
  timeline_.count_bytes(*link, n_bytes);
}

void CopyEngine::copy_mapped(Ops& ops, const Tensor& src, const Tensor& dst, Link link) {
  ALISA_ASSERT(src.device() == &compute_ && dst.device() == &compute_ && src.dtype() == dst.dtype(),
               "mapped copy ", src.shape_string(), " -> ", dst.shape_string());
  ops.convert(src, dst);
  timeline_.count_bytes(link, dst.n_bytes());
}

std::future<void> CopyEngine::read_disk(const DiskFile& file, uint64_t offset, void* dst,
                                        size_t n_bytes, std::string name) {
  ALISA_ASSERT(io_ != nullptr, "disk read without an I/O pool");
  return io_->submit([this, &file, offset, dst, n_bytes, name = std::move(name)] {
    timed_disk_io(Lane::kDiskRead, name, n_bytes, [&] { file.read(offset, dst, n_bytes); });
  });
}

std::future<void> CopyEngine::write_disk(DiskFile& file, uint64_t offset, const void* src,
                                         size_t n_bytes, std::string name, const Event* after) {
  ALISA_ASSERT(io_ != nullptr, "disk write without an I/O pool");
  return io_->submit([this, &file, offset, src, n_bytes, name = std::move(name), after] {
    if (after != nullptr) compute_.host_wait(*after);
    timed_disk_io(Lane::kDiskWrite, name, n_bytes, [&] { file.write(offset, src, n_bytes); });
  });
}

void CopyEngine::timed_disk_io(Lane lane, const std::string& name, size_t n_bytes,
                               const std::function<void()>& io) {
  const double start = host_now_us();
  io();
  const Link link = *lane_link(lane);
  timeline_.count_bytes(link, n_bytes);
  timeline_.add({.lane = lane,
                 .name = name,
                 .start_us = start,
                 .end_us = host_now_us(),
                 .bytes = n_bytes,
                 .link = link});
}

void CopyEngine::host_span(Lane lane, std::string name, double start_us, double end_us) {
  timeline_.add({.lane = lane, .name = std::move(name), .start_us = start_us, .end_us = end_us});
}

void CopyEngine::settle() {
  for (PendingSpan& span : pending_) {
    timeline_.add({.lane = span.lane,
                   .name = std::move(span.name),
                   .start_us = compute_.elapsed_us(*origin_, *span.start),
                   .end_us = compute_.elapsed_us(*origin_, *span.end),
                   .bytes = span.bytes,
                   .link = span.link});
  }
  pending_.clear();
  n_events_used_ = 0;
}

}  // namespace alisa
