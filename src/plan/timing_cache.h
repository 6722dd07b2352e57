// Measured times of candidate computations (a convolution in fp32 or bf16, direct or
// Winograd), kept for the process and, with a cache directory, on disk per CPU model and
// oneDNN version, so that a second start compiles without timing again.
//
//   kiln::TimingCache& cache = kiln::timing_cache();
//   cache.load("/var/cache/kiln");                  // timings-<cpu and oneDNN>.json, if any
//   double ms = cache.get_or_time(key, [&] { return time_it(); });
//   cache.save("/var/cache/kiln");                  // only when something new was timed
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

namespace kiln {

class TimingCache {
 public:
  // The cached time of `key`, or `measure()`'s (then kept).
  double get_or_time(const std::string& key, const std::function<double()>& measure);
  // Merges the file for this CPU and oneDNN version from `dir`, once per directory (a missing
  // or unreadable file is no error: the timings are measured again).
  void load(const std::string& dir);
  // Writes the file (atomically) when timings were added since the last load or save.
  void save(const std::string& dir);
  size_t measured() const;  // timings measured (not found) by this process
  size_t size() const;
  // Where timings are kept when an engine has no cache directory ("": nowhere).
  void set_default_dir(const std::string& dir);
  std::string default_dir() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, double> ms_;
  size_t measured_ = 0;
  bool dirty_ = false;
  std::string default_dir_;
  std::set<std::string> loaded_dirs_;
};

TimingCache& timing_cache();

// What identifies the machine for timings: CPU model (vendor, family, model, stepping,
// name), oneDNN's version and the ISA it uses.
std::string cpu_identity();
// <dir>/timings-<hash of cpu_identity()>.json
std::string timing_cache_path(const std::string& dir);

}  // namespace kiln
