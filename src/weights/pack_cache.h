// The on-disk weight-pack cache: packed weights keyed by what they depend on, mapped on a
// later start instead of being packed again.
//
//   kiln::PackCache cache{"/var/cache/kiln", 4ull << 30};
//   bool hit; uint64_t key;
//   auto w = kiln::pack_cached(cache, plan, raw, weight_names, arch_key, hit, key);
//
// The key hashes the architecture key (fingerprint, input shapes, precision, ISA), the
// oneDNN version, the pack format version and the weights' contents in canonical order. A
// missing entry is packed and written; a stale, truncated or corrupt one (header checks,
// checksum) is reported on stderr, rebuilt and rewritten, never used.
#pragma once

#include <string>
#include <vector>

#include "exec/plan.h"
#include "exec/weights.h"
#include "graph/graph.h"

namespace kiln {

class StoragePool;

struct PackCache {
  std::string dir;  // empty: no cache, just pack
  size_t limit_bytes = size_t{4} << 30;
};

Expected<std::shared_ptr<const Weights>> pack_cached(const PackCache& cache, const Plan& plan, const RawWeights& raw,
                                                     const std::vector<std::string>& weight_names,
                                                     const std::string& arch_key, bool& from_cache, uint64_t& key,
                                                     StoragePool* pool = nullptr);

// Deletes the oldest entries until the directory holds at most `limit_bytes` of packs.
void enforce_cache_limit(const PackCache& cache);

}  // namespace kiln
