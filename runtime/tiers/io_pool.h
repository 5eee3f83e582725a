// A fixed pool of threads for blocking disk I/O, so reads and writes of the disk tier overlap
// with compute and with each other (one O_DIRECT request in flight per thread).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace alisa {

class IoPool {
 public:
  explicit IoPool(size_t n_threads = 4);
  // Runs every job already submitted, then joins the threads.
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // Queues job (FIFO); an exception it throws is rethrown by the future's get().
  std::future<void> submit(std::function<void()> job);

  size_t n_threads() const { return threads_.size(); }

 private:
  void work();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace alisa
