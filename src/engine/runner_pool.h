// A pool of runners, each with a thread of its own.
//
//   kiln::RunnerPool pool(2);
//   auto out = pool.execute([&](kiln::Runner& r) { return r.run(plan, weights, inputs); });
//
// Why threads: oneDNN parallelises with OpenMP, whose worker team belongs to the thread
// that enters the parallel region. Running every request on its runner's own long-lived
// thread means that team is created once, during preparation, and never in a request
// (measured: a first run from a new thread took 1.39x a steady run on U-Net-16).
#pragma once

#include <condition_variable>
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
  explicit RunnerPool(int runners);
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
  size_t arena_bytes() const;

 private:
  struct Slot {
    Runner runner;
    std::thread thread;
    std::function<void(Runner&)> job;  // set while busy
    bool busy = false;
    std::condition_variable job_ready;
  };
  void submit(std::function<void(Runner&)> job, int only);
  void loop(Slot& s);

  mutable std::mutex mu_;
  std::condition_variable slot_free_;
  std::vector<std::unique_ptr<Slot>> slots_;
  bool stopping_ = false;
};

}  // namespace kiln
