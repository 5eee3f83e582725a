// Devices own memory; a Buffer is one allocation, returned to its device when it goes away.
// Every device has a byte cap (the policy's memory limits) and tracks use and peak, so a policy
// that does not fit fails with the numbers instead of an out-of-memory crash.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace alisa {

enum class DeviceKind : uint8_t { kCpu, kGpu };

// The device's queues of work (CUDA streams on the GPU): ops run on kCompute; the block schedule
// moves weights in, the KV cache in and the KV cache out on their own queues so transfers overlap
// compute and each other. Work on one queue runs in order; queues order against each other only
// through events.
enum class Queue : uint8_t { kCompute, kWeightsIn, kCacheIn, kCacheOut };
inline constexpr int kNumQueues = 4;

// A marker recorded on a queue: complete once all work queued before it there has run. Created
// by its device, reusable (recording again moves the marker).
class Event {
 public:
  virtual ~Event() = default;
};

class Device;

class Buffer {
 public:
  Buffer() = default;
  Buffer(Device* device, void* data, size_t n_bytes)
      : device_(device), data_(data), n_bytes_(n_bytes) {}
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t n_bytes() const { return n_bytes_; }
  Device* device() const { return device_; }
  bool empty() const { return data_ == nullptr; }

 private:
  void release() noexcept;
  Device* device_ = nullptr;
  void* data_ = nullptr;
  size_t n_bytes_ = 0;
};

class Device {
 public:
  // limit_bytes == 0 means no cap.
  Device(std::string name, size_t limit_bytes)
      : name_(std::move(name)), limit_bytes_(limit_bytes) {}
  virtual ~Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  virtual DeviceKind kind() const = 0;
  // Waits for all work queued on the device (a no-op where work is synchronous).
  virtual void synchronize() {}
  // n_bytes between host memory and this device's memory, ordered after the work already queued
  // on the device. Only the copy engine calls these.
  virtual void copy_from_host(void* dst, const void* src, size_t n_bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t n_bytes) = 0;  // returns when done

  // Asynchronous work ordering. On the CPU device work is synchronous, so these only note times.
  virtual std::unique_ptr<Event> create_event() = 0;
  virtual void record(Event& event, Queue queue) = 0;
  // Work queued on `queue` after this call waits for `event`.
  virtual void wait(Queue queue, const Event& event) = 0;
  // Blocks the calling thread until `event` is complete.
  virtual void host_wait(const Event& event) = 0;
  // Microseconds from `from` to `to`; both recorded and complete.
  virtual double elapsed_us(const Event& from, const Event& to) = 0;
  // n_bytes from src to dst queued on `queue`; either side may be host memory or this device's.
  // Asynchronous for pinned host memory; pageable host memory makes it synchronous.
  virtual void copy_async(Queue queue, void* dst, const void* src, size_t n_bytes) = 0;

  // Allocates n_bytes (64-byte aligned at least). Throws alisa::Error naming `purpose` and the
  // numbers when the cap would be exceeded or the allocation fails.
  Buffer allocate(size_t n_bytes, std::string_view purpose);

  const std::string& name() const { return name_; }
  size_t limit_bytes() const { return limit_bytes_; }
  size_t used_bytes() const { return used_bytes_; }
  size_t peak_bytes() const { return peak_bytes_; }
  // Starts a new peak measurement from what is in use now.
  void reset_peak() { peak_bytes_ = used_bytes_; }
  // The setting that caps this device ("--gpu-memory-limit"), named when the cap is exceeded: the
  // CPU run's compute arena is capped by the GPU's setting, not the CPU's.
  void set_limit_source(std::string source) { limit_source_ = std::move(source); }

 protected:
  virtual void* raw_allocate(size_t n_bytes) = 0;  // nullptr on failure
  virtual void raw_free(void* data, size_t n_bytes) noexcept = 0;
  void set_limit_bytes(size_t limit_bytes) { limit_bytes_ = limit_bytes; }

 private:
  friend class Buffer;
  void free(void* data, size_t n_bytes) noexcept;

  std::string name_;
  size_t limit_bytes_;
  std::string limit_source_;
  size_t used_bytes_ = 0;
  size_t peak_bytes_ = 0;
};

// Ordinary (pageable) host memory: the CPU compute device, and the CPU tier of a CPU run.
class CpuDevice final : public Device {
 public:
  explicit CpuDevice(size_t limit_bytes = 0, std::string name = "cpu")
      : Device(std::move(name), limit_bytes) {}
  DeviceKind kind() const override { return DeviceKind::kCpu; }
  void copy_from_host(void* dst, const void* src, size_t n_bytes) override;
  void copy_to_host(void* dst, const void* src, size_t n_bytes) override;
  std::unique_ptr<Event> create_event() override;
  void record(Event& event, Queue queue) override;
  void wait(Queue, const Event&) override {}
  void host_wait(const Event&) override {}
  double elapsed_us(const Event& from, const Event& to) override;
  void copy_async(Queue queue, void* dst, const void* src, size_t n_bytes) override;

 protected:
  void* raw_allocate(size_t n_bytes) override;
  void raw_free(void* data, size_t n_bytes) noexcept override;
};

// "1.50 GiB", "512.0 MiB": for messages.
std::string format_bytes(size_t n_bytes);

}  // namespace alisa
