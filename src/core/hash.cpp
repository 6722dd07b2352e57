#include "core/hash.h"

#include <cstring>

namespace kiln {

uint64_t hash_bytes(const void* data, size_t n, uint64_t seed) {
  // Four independent multiply-rotate lanes over 8-byte words: several GB/s, so checking a
  // 124 MB pack costs tens of milliseconds, mostly the page touches it does anyway.
  constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL, kP2 = 0xC2B2AE3D27D4EB4FULL;
  auto rotl = [](uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t lane[4] = {seed + kP1, seed + kP2, seed, seed - kP1};
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int l = 0; l < 4; ++l) {
      uint64_t v;
      std::memcpy(&v, p + i + 8 * l, 8);
      lane[l] = rotl(lane[l] + v * kP2, 31) * kP1;
    }
  uint64_t h = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18) + n;
  for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  return h;
}

}  // namespace kiln
