#include "runtime/core/device.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "runtime/base/common.h"

namespace alisa {

Buffer::~Buffer() {
  release();
}

Buffer::Buffer(Buffer&& other) noexcept
    : device_(std::exchange(other.device_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      n_bytes_(std::exchange(other.n_bytes_, 0)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    device_ = std::exchange(other.device_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    n_bytes_ = std::exchange(other.n_bytes_, 0);
  }
  return *this;
}

void Buffer::release() noexcept {
  if (data_ != nullptr) device_->free(data_, n_bytes_);
  data_ = nullptr;
  n_bytes_ = 0;
}

Buffer Device::allocate(size_t n_bytes, std::string_view purpose) {
  if (n_bytes == 0) n_bytes = 1;  // keep every buffer distinct and non-null
  // Written as a subtraction: used_bytes_ + n_bytes wraps for huge requests and passed the cap.
  if (limit_bytes_ != 0 && n_bytes > limit_bytes_ - used_bytes_) {
    throw Error(str(name_, " memory limit ", format_bytes(limit_bytes_),
                    limit_source_.empty() ? "" : " (" + limit_source_ + ")", " exceeded: ", purpose,
                    " needs ", format_bytes(n_bytes), " with ", format_bytes(used_bytes_),
                    " already in use"));
  }
  void* data = raw_allocate(n_bytes);
  if (data == nullptr) {
    throw Error(str("out of ", name_, " memory: ", purpose, " needs ", format_bytes(n_bytes),
                    " with ", format_bytes(used_bytes_), " already in use"));
  }
  used_bytes_ += n_bytes;
  if (used_bytes_ > peak_bytes_) peak_bytes_ = used_bytes_;
  return Buffer(this, data, n_bytes);
}

void Device::free(void* data, size_t n_bytes) noexcept {
  raw_free(data, n_bytes);
  used_bytes_ -= n_bytes;
}

void* CpuDevice::raw_allocate(size_t n_bytes) {
  constexpr size_t kAlignment = 64;
  if (n_bytes > SIZE_MAX - kAlignment) return nullptr;  // the rounding below would wrap to 0
  return std::aligned_alloc(kAlignment, (n_bytes + kAlignment - 1) / kAlignment * kAlignment);
}

void CpuDevice::raw_free(void* data, size_t) noexcept {
  std::free(data);
}

void CpuDevice::copy_from_host(void* dst, const void* src, size_t n_bytes) {
  std::memcpy(dst, src, n_bytes);
}

void CpuDevice::copy_to_host(void* dst, const void* src, size_t n_bytes) {
  std::memcpy(dst, src, n_bytes);
}

namespace {

// Work on the CPU is done when queued: an event is the time it was recorded.
struct CpuEvent final : Event {
  std::chrono::steady_clock::time_point at;
};

}  // namespace

std::unique_ptr<Event> CpuDevice::create_event() {
  return std::make_unique<CpuEvent>();
}

void CpuDevice::record(Event& event, Queue) {
  static_cast<CpuEvent&>(event).at = std::chrono::steady_clock::now();
}

double CpuDevice::elapsed_us(const Event& from, const Event& to) {
  return std::chrono::duration<double, std::micro>(static_cast<const CpuEvent&>(to).at -
                                                   static_cast<const CpuEvent&>(from).at)
      .count();
}

void CpuDevice::copy_async(Queue, void* dst, const void* src, size_t n_bytes) {
  std::memcpy(dst, src, n_bytes);
}

std::string format_bytes(size_t n_bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(n_bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", value, units[unit]);
  return text;
}

}  // namespace alisa
