#include "plan/timing_cache.h"

#include <dnnl.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/hash.h"

namespace kiln {

double TimingCache::get_or_time(const std::string& key, const std::function<double()>& measure) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ms_.find(key);
    if (it != ms_.end()) return it->second;
  }
  double ms = measure();
  std::lock_guard<std::mutex> lock(mu_);
  ms_[key] = ms;
  ++measured_;
  dirty_ = true;
  return ms;
}

size_t TimingCache::measured() const {
  std::lock_guard<std::mutex> lock(mu_);
  return measured_;
}

size_t TimingCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ms_.size();
}

void TimingCache::set_default_dir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  default_dir_ = dir;
}

std::string TimingCache::default_dir() const {
  std::lock_guard<std::mutex> lock(mu_);
  return default_dir_;
}

std::string cpu_identity() {
  std::string id;
  if (FILE* f = std::fopen("/proc/cpuinfo", "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
      std::string s(line);
      if (s == "\n") break;  // the first processor is enough
      const size_t colon = s.find(':');
      if (colon == std::string::npos) continue;
      std::string key = s.substr(0, colon);
      while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
      if (key == "vendor_id" || key == "cpu family" || key == "model" || key == "model name" || key == "stepping")
        id += key + s.substr(colon, s.size() - colon - 1) + "; ";
    }
    std::fclose(f);
  }
  const dnnl_version_t* v = dnnl_version();
  id += "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
        "; isa " + std::to_string(static_cast<int>(dnnl::get_effective_cpu_isa()));
  return id;
}

std::string timing_cache_path(const std::string& dir) {
  const std::string id = cpu_identity();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash_bytes(id.data(), id.size())));
  return (std::filesystem::path(dir) / ("timings-" + std::string(hex) + ".json")).string();
}

void TimingCache::load(const std::string& dir) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!loaded_dirs_.insert(dir).second) return;  // read once per process: later timings are ours
  }
  std::ifstream f(timing_cache_path(dir));
  if (!f) return;
  nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("cpu", "") != cpu_identity() || !j.contains("ms") || !j["ms"].is_object()) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, ms] : j["ms"].items())
    if (ms.is_number() && ms.get<double>() > 0) ms_.emplace(key, ms.get<double>());
}

void TimingCache::save(const std::string& dir) {
  nlohmann::json j;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!dirty_) return;
    j["cpu"] = cpu_identity();
    j["ms"] = nlohmann::json::object();
    for (const auto& [key, ms] : ms_) j["ms"][key] = ms;
    dirty_ = false;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = timing_cache_path(dir), tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    if (!out) return;  // a cache that cannot be written only costs the next start its timing
    out << j.dump(1) << "\n";
    if (!out) return;
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

TimingCache& timing_cache() {
  static TimingCache cache;
  return cache;
}

}  // namespace kiln
