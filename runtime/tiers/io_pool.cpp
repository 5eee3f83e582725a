#include "runtime/tiers/io_pool.h"

#include <utility>

#include "runtime/base/common.h"

namespace alisa {

IoPool::IoPool(size_t n_threads) {
  ALISA_ASSERT(n_threads > 0, "an IoPool needs at least one thread");
  threads_.reserve(n_threads);
  try {
    for (size_t i = 0; i < n_threads; ++i) threads_.emplace_back([this] { work(); });
  } catch (...) {
    // Joinable std::threads left behind would call std::terminate.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& thread : threads_) thread.join();
    throw;
  }
}

IoPool::~IoPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

std::future<void> IoPool::submit(std::function<void()> job) {
  std::packaged_task<void()> task(std::move(job));
  std::future<void> done = task.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ALISA_ASSERT(!stopping_, "IoPool::submit during destruction");
    jobs_.push_back(std::move(task));
  }
  ready_.notify_one();
  return done;
}

void IoPool::work() {
  for (;;) {
    std::packaged_task<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and drained
      task = std::move(jobs_.front());
      jobs_.pop_front();
    }
    task();  // a packaged_task stores the job's exception in its future instead of throwing
  }
}

}  // namespace alisa
