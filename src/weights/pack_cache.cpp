#include "weights/pack_cache.h"
#include "core/status_macros.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "weights/pack.h"
#include "weights/pack_file.h"

namespace kiln {

namespace {

uint64_t content_key(const std::string& arch_key, const Plan& plan, const RawWeights& raw,
                     const std::vector<std::string>& names) {
  const dnnl_version_t* v = dnnl_version();
  std::string meta = arch_key + "/dnnl" + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                     std::to_string(v->patch) + "/pack" + std::to_string(kPackFormatVersion);
  uint64_t h = hash_bytes(meta.data(), meta.size(), plan.fingerprint ^ plan.weight_layout);
  for (const std::string& n : names) {
    const Tensor& t = raw.tensors.at(n);
    h = hash_bytes(t.raw(), t.bytes(), h);
  }
  return h == kAnyKey ? 1 : h;
}

}  // namespace

Expected<std::shared_ptr<const Weights>> pack_cached(const PackCache& cache, const Plan& plan, const RawWeights& raw,
                                                     const std::vector<std::string>& weight_names,
                                                     const std::string& arch_key, bool& from_cache, uint64_t& key,
                                                     StoragePool* pool) {
  from_cache = false;
  key = kAnyKey;
  if (cache.dir.empty()) return pack(plan, raw, pool);
  key = content_key(arch_key, plan, raw, weight_names);
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.kwp", static_cast<unsigned long long>(key));
  std::string path = cache.dir + "/" + name;
  auto mapped = map_pack_file(path, plan, key);
  if (mapped) {
    from_cache = true;
    return mapped;
  }
  if (mapped.error().code() != ErrorCode::kNotFound)
    std::fprintf(stderr, "kiln: rebuilding cache entry: %s\n", mapped.error().message().c_str());
  KILN_ASSIGN_OR_RETURN(auto packed, pack(plan, raw, pool));
  std::error_code ec;
  std::filesystem::create_directories(cache.dir, ec);
  Status s = write_pack_file(path, plan, *packed, key);
  if (!s) std::fprintf(stderr, "kiln: weight cache not written: %s\n", s.message().c_str());
  enforce_cache_limit(cache);
  return packed;
}

void enforce_cache_limit(const PackCache& cache) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, fs::path>> entries;
  size_t total = 0;
  for (const auto& f : fs::directory_iterator(cache.dir, ec)) {
    if (f.path().extension() != ".kwp") continue;
    total += static_cast<size_t>(f.file_size(ec));
    entries.emplace_back(f.last_write_time(ec), f.path());
  }
  std::sort(entries.begin(), entries.end());  // oldest first
  for (const auto& [when, path] : entries) {
    if (total <= cache.limit_bytes) break;
    size_t bytes = static_cast<size_t>(fs::file_size(path, ec));
    if (fs::remove(path, ec)) total -= bytes;  // a mapped entry stays valid until unmapped
  }
}

}  // namespace kiln
