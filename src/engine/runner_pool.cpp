#include "engine/runner_pool.h"

namespace kiln {

RunnerPool::RunnerPool(int runners) {
  for (int i = 0; i < std::max(1, runners); ++i) slots_.push_back(std::make_unique<Slot>());
  for (auto& s : slots_) s->thread = std::thread([this, slot = s.get()] { loop(*slot); });
}

RunnerPool::~RunnerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  for (auto& s : slots_) s->job_ready.notify_all();
  for (auto& s : slots_) s->thread.join();
}

void RunnerPool::submit(std::function<void(Runner&)> job, int only) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = *slots_[i];
      if (s.busy || (only >= 0 && static_cast<int>(i) != only)) continue;
      s.busy = true;
      s.job = std::move(job);
      s.job_ready.notify_one();
      return;
    }
    slot_free_.wait(lock);
  }
}

void RunnerPool::loop(Slot& s) {
  for (;;) {
    std::function<void(Runner&)> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      s.job_ready.wait(lock, [&] { return stopping_ || s.job; });
      if (!s.job) return;  // stopping and idle
      job = std::move(s.job);
      s.job = nullptr;
    }
    job(s.runner);  // the packaged task carries the result back to the caller
    {
      std::lock_guard<std::mutex> lock(mu_);
      s.busy = false;
    }
    slot_free_.notify_all();
  }
}

size_t RunnerPool::arena_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t total = 0;
  for (const auto& s : slots_) total += s->runner.arena_bytes();
  return total;
}

}  // namespace kiln
