// Runners handed out in arrival order, each wait bounded by a deadline: the queue a server
// keeps in front of an engine. (std::counting_semaphore wakes waiters in no order: one
// request could wait seconds while later ones went ahead.)
//
//   kiln::serve::FifoGate gate(runners);
//   if (!gate.acquire_until(deadline)) return deadline_exceeded(...);
//   ... compute ...
//   gate.release();
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace kiln::serve {

class FifoGate {
 public:
  explicit FifoGate(int permits) : free_(std::max(1, permits)) {}

  // True with a permit; false when the deadline came first (and no permit is held).
  bool acquire_until(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (free_ > 0 && waiting_.empty()) {
      --free_;
      return true;
    }
    Waiter w;
    waiting_.push_back(&w);
    if (w.cv.wait_until(lock, deadline, [&] { return w.granted; })) return true;
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &w));
    return false;
  }

  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    if (waiting_.empty()) {
      ++free_;
      return;
    }
    Waiter* w = waiting_.front();  // the permit passes straight to the longest waiter
    waiting_.pop_front();
    w->granted = true;
    w->cv.notify_one();
  }

 private:
  struct Waiter {
    std::condition_variable cv;
    bool granted = false;
  };
  std::mutex mu_;
  int free_;
  std::deque<Waiter*> waiting_;
};

}  // namespace kiln::serve
