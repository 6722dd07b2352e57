// A Runner: the per-thread execution state (arena and oneDNN stream) that runs any plan
// with any weight pack made for it.
//
//   kiln::Runner runner;
//   kiln::Expected<std::vector<kiln::Tensor>> out = runner.run(*plan, *weights, {image});
//
// The arena grows to the largest plan it has run and is reused across runs; it is mapped
// populated when it grows (core/memory.h; no huge pages, design-notes 6), so page faults
// happen at preparation, not in a user's request.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "exec/plan.h"
#include "exec/weights.h"

namespace kiln {

class Runner {
 public:
  Runner();
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Makes sure the arena fits `plan` (allocating and touching it now).
  void reserve(const Plan& plan);
  Expected<std::vector<Tensor>> run(const Plan& plan, const Weights& weights, const std::vector<Tensor>& inputs);
  size_t arena_bytes() const { return arena_bytes_.load(std::memory_order_relaxed); }
  // The activations of the last run (a plan compiled with keep_values lists where each is).
  const uint8_t* arena() const { return arena_.get(); }

  // Per-step wall times of the last run, when profiling is on.
  void set_profiling(bool on) { profiling_ = on; }
  const std::vector<double>& step_ms() const { return step_ms_; }

 private:
  std::shared_ptr<uint8_t> arena_;
  std::atomic<size_t> arena_bytes_{0};  // read by Engine::memory() from other threads
  dnnl::stream stream_{cpu_engine()};
  bool profiling_ = false;
  std::vector<double> step_ms_;
};

}  // namespace kiln
