#include "server/metrics.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace kiln::serve {

void Histogram::observe(double seconds) {
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(std::max(0.0, seconds) * 1e9), std::memory_order_relaxed);
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  char line[512];
  const std::string sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i < kBounds.size(); ++i) {
    std::snprintf(line, sizeof line, "%s_bucket{%s%sle=\"%g\"} %llu\n", name.c_str(), labels.c_str(), sep.c_str(),
                  kBounds[i], static_cast<unsigned long long>(buckets_[i].load()));
    out += line;
  }
  std::snprintf(line, sizeof line, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name.c_str(), labels.c_str(), sep.c_str(),
                static_cast<unsigned long long>(count_.load()));
  out += line;
  std::snprintf(line, sizeof line, "%s_sum{%s} %.9f\n%s_count{%s} %llu\n", name.c_str(), labels.c_str(), sum_seconds(),
                name.c_str(), labels.c_str(), static_cast<unsigned long long>(count_.load()));
  out += line;
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kSuccess: return "success";
    case Outcome::kClientError: return "client_error";
    case Outcome::kServerError: return "server_error";
    case Outcome::kRejected: return "rejected";
    case Outcome::kTimedOut: return "timed_out";
  }
  return "?";
}

void ModelStats::record(Outcome o, double total_seconds, double queue_seconds, double compute_seconds) {
  requests[static_cast<int>(o)].fetch_add(1, std::memory_order_relaxed);
  const auto ns = [](double s) { return static_cast<uint64_t>(std::max(0.0, s) * 1e9); };
  (o == Outcome::kSuccess ? success_ns : fail_ns).fetch_add(ns(total_seconds), std::memory_order_relaxed);
  queue_ns.fetch_add(ns(queue_seconds), std::memory_order_relaxed);
  compute_ns.fetch_add(ns(compute_seconds), std::memory_order_relaxed);
  total.observe(total_seconds);
  if (o == Outcome::kSuccess || compute_seconds > 0) {
    queue.observe(queue_seconds);
    compute.observe(compute_seconds);
  }
  last_inference_ms.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count(),
                          std::memory_order_relaxed);
}

void ModelStats::note_compute(double ms) {
  std::lock_guard<std::mutex> lock(recent_mu_);
  if (recent_.size() < kRecent) {
    recent_.push_back(ms);
  } else {
    recent_[next_] = ms;
    next_ = (next_ + 1) % kRecent;
  }
}

double ModelStats::steady_ms() const {
  std::vector<double> v;
  {
    std::lock_guard<std::mutex> lock(recent_mu_);
    v = recent_;
  }
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

std::string label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace kiln::serve
