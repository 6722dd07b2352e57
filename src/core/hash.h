// A fast non-cryptographic 64-bit hash of bytes: cache keys, pack checksums, layout keys.
//
//   uint64_t h = kiln::hash_bytes(data, n);          // chain with a seed: hash_bytes(p, m, h)
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln {

uint64_t hash_bytes(const void* data, size_t n, uint64_t seed = 0);

}  // namespace kiln
