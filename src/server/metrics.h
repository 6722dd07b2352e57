// What the server counts per model, for /metrics (Prometheus text), Triton's statistics
// extension and the viewer: requests by outcome, latency histograms, queue depth, swaps.
//
//   stats.total.observe(0.012);                    // seconds
//   std::string text; stats.total.render(text, "kiln_request_duration_seconds", "model=\"leather\"");
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace kiln::serve {

class Histogram {
 public:
  // Upper bounds in seconds: a U-Net request takes 1 ms to 10 s on a CPU.
  static constexpr std::array<double, 14> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
  void observe(double seconds);
  uint64_t count() const { return count_.load(); }
  double sum_seconds() const { return static_cast<double>(sum_ns_.load()) * 1e-9; }
  // Appends the _bucket, _sum and _count lines of one labelled series (no HELP/TYPE lines).
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size()> buckets_{};
  std::atomic<uint64_t> count_{0}, sum_ns_{0};
};

// Outcomes a request ends in: the label of kiln_requests_total.
enum class Outcome { kSuccess, kClientError, kServerError, kRejected, kTimedOut };
constexpr int kOutcomes = 5;
const char* outcome_name(Outcome o);

struct ModelStats {
  std::array<std::atomic<uint64_t>, kOutcomes> requests{};
  std::atomic<uint64_t> success_ns{0}, fail_ns{0}, queue_ns{0}, compute_ns{0}, executions{0};
  std::atomic<int64_t> last_inference_ms{0};  // since the epoch
  std::atomic<int> waiting{0};                // queue depth: admitted, not yet running
  std::atomic<uint64_t> swaps{0}, swaps_failed{0};
  Histogram queue, compute, total;

  void record(Outcome o, double total_seconds, double queue_seconds, double compute_seconds);
  // Median compute time of the last runs of the loaded input size: the model's steady latency.
  double steady_ms() const;
  void note_compute(double ms);

 private:
  mutable std::mutex recent_mu_;
  std::vector<double> recent_;  // ring of the last kRecent compute times
  size_t next_ = 0;
  static constexpr size_t kRecent = 64;
};

// A Prometheus label value, escaped.
std::string label(const std::string& value);

}  // namespace kiln::serve
