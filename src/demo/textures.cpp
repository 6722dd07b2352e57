// The six surface textures. Each is a function of (x, y) and a seed, values around 0.5.
#include <cmath>

#include "demo/generator.h"
#include "demo/random.h"

namespace kiln::demo {

namespace {

constexpr double kPi = 3.14159265358979323846;

void brushed_metal(std::vector<float>& img, int n, Rng& rng, uint64_t seed) {
  ValueNoise streak(seed), fine(seed + 1);
  double base = rng.uniform(0.45, 0.6);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      // Long horizontal streaks: noise stretched 80x along x.
      double s = streak.fractal(x / 80.0, y / 1.5, 3) - 0.5;
      double f = fine.at(x / 1.3, y / 1.3) - 0.5;
      img[y * n + x] = static_cast<float>(base + 0.22 * s + 0.06 * f);
    }
}

void woven_fabric(std::vector<float>& img, int n, Rng& rng, uint64_t seed) {
  ValueNoise thread(seed);
  double period = rng.uniform(7.0, 11.0), base = rng.uniform(0.4, 0.55);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      double wx = std::sin(2 * kPi * x / period), wy = std::sin(2 * kPi * y / period);
      // Over-under weave: which thread is on top alternates by cell.
      int cell = (static_cast<int>(x / period) + static_cast<int>(y / period)) & 1;
      double w = cell ? 0.5 + 0.5 * wx * wx : 0.5 + 0.5 * wy * wy;
      double jitter = thread.at(x / 3.0, y / 3.0) - 0.5;
      img[y * n + x] = static_cast<float>(base + 0.25 * (w - 0.5) + 0.08 * jitter);
    }
}

void wood_grain(std::vector<float>& img, int n, Rng& rng, uint64_t seed) {
  ValueNoise warp(seed);
  double cx = rng.uniform(-1.5, 2.5) * n, cy = rng.uniform(-1.5, 2.5) * n, freq = rng.uniform(0.10, 0.16);
  double base = rng.uniform(0.45, 0.58);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      double d = std::hypot(x - cx, (y - cy) * 0.25) + 14.0 * warp.fractal(x / 60.0, y / 60.0, 3);
      double ring = std::sin(d * freq);
      img[y * n + x] = static_cast<float>(base + 0.16 * ring * std::fabs(ring) + 0.04 * (warp.at(x / 2.0, y / 2.0) - 0.5));
    }
}

void speckle(std::vector<float>& img, int n, Rng& rng, uint64_t seed) {
  ValueNoise bg(seed);
  double base = rng.uniform(0.45, 0.6);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) img[y * n + x] = static_cast<float>(base + 0.08 * (bg.fractal(x / 40.0, y / 40.0, 2) - 0.5));
  int dots = n * n / 90;
  for (int i = 0; i < dots; ++i) {  // small bright and dark specks, 1-2 px
    int x = rng.range(0, n - 1), y = rng.range(0, n - 1);
    float v = static_cast<float>(rng.uniform() < 0.5 ? rng.uniform(-0.25, -0.12) : rng.uniform(0.12, 0.25));
    int r = rng.range(0, 1);
    for (int dy = -r; dy <= r; ++dy)
      for (int dx = -r; dx <= r; ++dx)
        if (x + dx >= 0 && x + dx < n && y + dy >= 0 && y + dy < n) img[(y + dy) * n + x + dx] += v;
  }
}

void concrete(std::vector<float>& img, int n, Rng& rng, uint64_t seed) {
  ValueNoise coarse(seed), grit(seed + 7);
  double base = rng.uniform(0.45, 0.6);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      double c = coarse.fractal(x / 50.0, y / 50.0, 5) - 0.5;
      double g = grit.at(x / 1.1, y / 1.1) - 0.5;
      img[y * n + x] = static_cast<float>(base + 0.3 * c + 0.12 * g);
    }
}

void leather(std::vector<float>& img, int n, Rng& rng, uint64_t seed) {
  ValueNoise cells(seed), fine(seed + 3);
  double base = rng.uniform(0.4, 0.55), scale = rng.uniform(9.0, 14.0);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      // Creases: thin dark valleys where the noise crosses its middle.
      double v = cells.fractal(x / scale, y / scale, 2);
      double crease = std::exp(-std::pow((v - 0.5) / 0.035, 2));
      img[y * n + x] = static_cast<float>(base + 0.06 * (fine.at(x / 2.5, y / 2.5) - 0.5) - 0.14 * crease);
    }
}

}  // namespace

void draw_texture(Texture t, std::vector<float>& img, int n, Rng& rng, uint64_t seed) {
  switch (t) {
    case Texture::kBrushedMetal: brushed_metal(img, n, rng, seed); break;
    case Texture::kWovenFabric: woven_fabric(img, n, rng, seed); break;
    case Texture::kWoodGrain: wood_grain(img, n, rng, seed); break;
    case Texture::kSpeckle: speckle(img, n, rng, seed); break;
    case Texture::kConcrete: concrete(img, n, rng, seed); break;
    case Texture::kLeather: leather(img, n, rng, seed); break;
  }
}

}  // namespace kiln::demo
