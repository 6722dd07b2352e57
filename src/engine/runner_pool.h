// A pool of runners, each with a thread of its own.
//
//   kiln::RunnerPool pool(2);
//   auto out = pool.execute([&](kiln::Runner& r) { return r.run(plan, weights, inputs); });
//
// Why threads: oneDNN parallelises with OpenMP, whose worker team belongs to the thread
// that enters the parallel region. Running every request on its runner's own long-lived
// thread means that team is created once, during preparation, and never in a request
// (measured: a first run from a new thread took 1.39x a steady run on U-Net-16).
// Jobs wait in one first-come first-served queue: callers that raced for a free runner
// instead let one unlucky request wait seconds behind later ones (p99 3.8 s against a
// median of 83 ms, four clients on one runner, 2026-12-06).
// Each runner thread sets its own OpenMP thread count: libgomp keeps that setting per
// thread, so omp_set_num_threads on the caller's thread never reached the runners (kiln's
// --threads did nothing before 2026-12-06). Plans compile on a runner too, so oneDNN sizes
// its kernels' work split for the team that runs them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "exec/runner.h"

namespace kiln {

class RunnerPool {
 public:
  // `threads` per runner; 0: OpenMP's count (OMP_NUM_THREADS, else the cores) divided
  // among the runners, at least one each.
  RunnerPool(int runners, int threads);
  ~RunnerPool();
  RunnerPool(const RunnerPool&) = delete;
  RunnerPool& operator=(const RunnerPool&) = delete;

  // Runs `fn` on a free runner (or runner `only`), on that runner's thread; blocks until done.
  template <typename F>
  auto execute(F&& fn, int only = -1) -> decltype(fn(std::declval<Runner&>())) {
    using R = decltype(fn(std::declval<Runner&>()));
    std::packaged_task<R(Runner&)> task(std::forward<F>(fn));
    std::future<R> result = task.get_future();
    submit([&task](Runner& r) { task(r); }, only);
    return result.get();
  }

  size_t size() const { return slots_.size(); }
  // The OpenMP thread count a runner's thread sees (what it was given, read back there).
  int threads_per_runner() const { return observed_threads_.load() > 0 ? observed_threads_.load() : threads_; }
  size_t arena_bytes() const;

 private:
  using Job = std::function<void(Runner&)>;
  struct Slot {
    Runner runner;
    std::thread thread;
    std::deque<Job> pinned;  // jobs for this runner only (its warm-up)
  };
  void submit(Job job, int only);
  void loop(Slot& s);

  mutable std::mutex mu_;
  std::condition_variable work_;
  std::deque<Job> queue_;  // jobs for any runner, in arrival order
  std::vector<std::unique_ptr<Slot>> slots_;
  bool stopping_ = false;
  int threads_ = 1;
  std::atomic<int> observed_threads_{0};
};

}  // namespace kiln
