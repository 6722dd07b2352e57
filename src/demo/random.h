// Deterministic randomness and noise for the defect generator: the same numbers on every
// platform (std::uniform_real_distribution and friends are implementation-defined).
#pragma once

#include <cmath>
#include <cstdint>

namespace kiln::demo {

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL) {}
  uint64_t next() {  // splitmix64
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0,1)
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  int range(int a, int b) { return a + static_cast<int>(uniform() * (b - a + 1)); }  // [a,b]
  double normal() {  // Box-Muller
    double u = uniform() + 1e-12, v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }

 private:
  uint64_t s_;
};

// Smooth value noise on an integer lattice: a deterministic hash per lattice point,
// interpolated with a smoothstep. Octaves add detail.
class ValueNoise {
 public:
  explicit ValueNoise(uint64_t seed) : seed_(seed) {}
  double at(double x, double y) const {
    double fx = std::floor(x), fy = std::floor(y);
    auto ix = static_cast<int64_t>(fx), iy = static_cast<int64_t>(fy);
    double tx = smooth(x - fx), ty = smooth(y - fy);
    double a = lattice(ix, iy), b = lattice(ix + 1, iy), c = lattice(ix, iy + 1), d = lattice(ix + 1, iy + 1);
    return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty;  // [0,1)
  }
  double fractal(double x, double y, int octaves) const {
    double sum = 0, amp = 0.5, norm = 0;
    for (int o = 0; o < octaves; ++o) {
      sum += amp * at(x, y);
      norm += amp;
      x *= 2.03;
      y *= 2.03;
      amp *= 0.5;
    }
    return sum / norm;
  }

 private:
  static double smooth(double t) { return t * t * (3 - 2 * t); }
  double lattice(int64_t x, int64_t y) const {
    uint64_t h = seed_ ^ (static_cast<uint64_t>(x) * 0x9E3779B185EBCA87ULL) ^ (static_cast<uint64_t>(y) * 0xC2B2AE3D27D4EB4FULL);
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return static_cast<double>(h >> 11) * 0x1.0p-53;
  }
  uint64_t seed_;
};

}  // namespace kiln::demo
