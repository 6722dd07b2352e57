#include "engine/runner_pool.h"

#include <omp.h>

namespace kiln {

RunnerPool::RunnerPool(int runners, int threads) {
  runners = std::max(1, runners);
  threads_ = threads > 0 ? threads : std::max(1, omp_get_max_threads() / runners);
  for (int i = 0; i < runners; ++i) slots_.push_back(std::make_unique<Slot>());
  for (auto& s : slots_)
    s->thread = std::thread([this, slot = s.get()] {
      omp_set_num_threads(threads_);
      observed_threads_.store(omp_get_max_threads());
      loop(*slot);
    });
}

RunnerPool::~RunnerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (auto& s : slots_) s->thread.join();
}

void RunnerPool::submit(Job job, int only) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (only >= 0 && only < static_cast<int>(slots_.size())) slots_[static_cast<size_t>(only)]->pinned.push_back(std::move(job));
    else queue_.push_back(std::move(job));
  }
  work_.notify_all();
}

void RunnerPool::loop(Slot& s) {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_.wait(lock, [&] { return stopping_ || !s.pinned.empty() || !queue_.empty(); });
      std::deque<Job>& from = !s.pinned.empty() ? s.pinned : queue_;
      if (from.empty()) return;  // stopping and idle
      job = std::move(from.front());
      from.pop_front();
    }
    job(s.runner);  // the packaged task carries the result back to the caller
  }
}

size_t RunnerPool::arena_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t total = 0;
  for (const auto& s : slots_) total += s->runner.arena_bytes();
  return total;
}

}  // namespace kiln
