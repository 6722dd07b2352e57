// The defects: scratches, spots, cracks, stains and missing texture. Each darkens or
// brightens the image by a smooth profile and records that profile, from which the
// ground-truth mask is thresholded (so the mask covers what is visibly changed).
#include <algorithm>
#include <cmath>

#include "demo/generator.h"

namespace kiln::demo {

namespace {

struct Point { double x, y; };

// Distance from p to the segment ab.
double segment_distance(Point p, Point a, Point b) {
  double vx = b.x - a.x, vy = b.y - a.y;
  double len2 = vx * vx + vy * vy;
  double t = len2 > 0 ? std::clamp(((p.x - a.x) * vx + (p.y - a.y) * vy) / len2, 0.0, 1.0) : 0.0;
  return std::hypot(p.x - (a.x + t * vx), p.y - (a.y + t * vy));
}

// A stroke along a polyline: profile exp(-(d/width)^2), image += amount * profile.
void stroke(const std::vector<Point>& pts, double width, double amount, std::vector<float>& img,
            std::vector<float>& strength, int n) {
  for (size_t i = 0; i + 1 < pts.size(); ++i) {
    Point a = pts[i], b = pts[i + 1];
    int x0 = std::max(0, static_cast<int>(std::min(a.x, b.x) - 3 * width)), x1 = std::min(n - 1, static_cast<int>(std::max(a.x, b.x) + 3 * width));
    int y0 = std::max(0, static_cast<int>(std::min(a.y, b.y) - 3 * width)), y1 = std::min(n - 1, static_cast<int>(std::max(a.y, b.y) + 3 * width));
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        double d = segment_distance({static_cast<double>(x), static_cast<double>(y)}, a, b);
        double p = std::exp(-(d / width) * (d / width));
        float& s = strength[y * n + x];
        if (p > s) {  // overlapping segments of one stroke must not add up
          img[y * n + x] += static_cast<float>(amount * (p - s));
          s = static_cast<float>(p);
        }
      }
  }
}

// A blob: an ellipse with a soft edge, its boundary wobbled by noise.
void blob(Point c, double rx, double ry, double angle, double softness, double amount, std::vector<float>& img,
          std::vector<float>& strength, int n, uint64_t seed) {
  ValueNoise wobble(seed);
  double r = std::max(rx, ry) * 1.6;
  double ca = std::cos(angle), sa = std::sin(angle);
  for (int y = std::max(0, static_cast<int>(c.y - r)); y <= std::min(n - 1, static_cast<int>(c.y + r)); ++y)
    for (int x = std::max(0, static_cast<int>(c.x - r)); x <= std::min(n - 1, static_cast<int>(c.x + r)); ++x) {
      double dx = x - c.x, dy = y - c.y;
      double u = (dx * ca + dy * sa) / rx, v = (-dx * sa + dy * ca) / ry;
      double e = std::sqrt(u * u + v * v) * (1.0 + 0.25 * (wobble.at(x / 9.0, y / 9.0) - 0.5));
      double p = 1.0 / (1.0 + std::exp((e - 1.0) / softness));
      float& s = strength[y * n + x];
      if (p > s) {
        img[y * n + x] += static_cast<float>(amount * (p - s));
        s = static_cast<float>(p);
      }
    }
}

Point random_point(Rng& rng, int n, double margin) { return {rng.uniform(margin, n - margin), rng.uniform(margin, n - margin)}; }

}  // namespace

void draw_defect(Defect d, std::vector<float>& img, std::vector<float>& strength, int n, Rng& rng, uint64_t seed) {
  switch (d) {
    case Defect::kScratch: {  // long, thin, nearly straight, dark or bright
      Point a = random_point(rng, n, 20);
      double angle = rng.uniform(0, 6.283185307179586), len = rng.uniform(0.25, 0.6) * n, bend = rng.uniform(-0.3, 0.3);
      std::vector<Point> pts;
      for (int i = 0; i <= 12; ++i) {
        double t = i / 12.0, ang = angle + bend * t;
        pts.push_back({a.x + std::cos(ang) * len * t, a.y + std::sin(ang) * len * t});
      }
      stroke(pts, rng.uniform(1.3, 2.4), (rng.uniform() < 0.7 ? -1 : 1) * rng.uniform(0.28, 0.4), img, strength, n);
      break;
    }
    case Defect::kSpot:
      blob(random_point(rng, n, 30), rng.uniform(6, 18), rng.uniform(6, 18), rng.uniform(0, 3.14), 0.12,
           -rng.uniform(0.25, 0.38), img, strength, n, seed);
      break;
    case Defect::kCrack: {  // a jagged random walk, sometimes with a branch
      Point p = random_point(rng, n, 40);
      double heading = rng.uniform(0, 6.283185307179586);
      std::vector<Point> pts = {p};
      int steps = rng.range(18, 40);
      for (int i = 0; i < steps; ++i) {
        heading += rng.normal() * 0.45;
        p = {std::clamp(p.x + std::cos(heading) * 7.0, 2.0, n - 3.0), std::clamp(p.y + std::sin(heading) * 7.0, 2.0, n - 3.0)};
        pts.push_back(p);
      }
      stroke(pts, rng.uniform(1.2, 2.0), -rng.uniform(0.3, 0.42), img, strength, n);
      break;
    }
    case Defect::kStain:  // large, soft, low contrast
      blob(random_point(rng, n, 60), rng.uniform(22, 50), rng.uniform(22, 50), rng.uniform(0, 3.14), 0.08,
           (rng.uniform() < 0.75 ? -1 : 1) * rng.uniform(0.16, 0.24), img, strength, n, seed);
      break;
    case Defect::kMissingTexture: {  // the texture is gone: a flat patch at the local mean
      Point c = random_point(rng, n, 50);
      double rx = rng.uniform(18, 40), ry = rng.uniform(18, 40);
      double mean = 0;
      int cnt = 0;
      for (int y = std::max(0, static_cast<int>(c.y - ry)); y <= std::min(n - 1, static_cast<int>(c.y + ry)); ++y)
        for (int x = std::max(0, static_cast<int>(c.x - rx)); x <= std::min(n - 1, static_cast<int>(c.x + rx)); ++x) {
          mean += img[y * n + x];
          ++cnt;
        }
      mean = cnt ? mean / cnt : 0.5;
      mean += rng.uniform(-0.08, 0.08);
      for (int y = std::max(0, static_cast<int>(c.y - ry)); y <= std::min(n - 1, static_cast<int>(c.y + ry)); ++y)
        for (int x = std::max(0, static_cast<int>(c.x - rx)); x <= std::min(n - 1, static_cast<int>(c.x + rx)); ++x) {
          double u = (x - c.x) / rx, v = (y - c.y) / ry;
          double p = 1.0 / (1.0 + std::exp((std::sqrt(u * u + v * v) - 1.0) / 0.05));
          img[y * n + x] = static_cast<float>(img[y * n + x] * (1 - p) + mean * p);
          strength[y * n + x] = std::max(strength[y * n + x], static_cast<float>(p));
        }
      break;
    }
  }
}

std::vector<Defect> typical_defects(Texture t) {
  switch (t) {
    case Texture::kBrushedMetal: return {Defect::kScratch, Defect::kSpot};
    case Texture::kWovenFabric: return {Defect::kMissingTexture, Defect::kStain};
    case Texture::kWoodGrain: return {Defect::kCrack, Defect::kStain};
    case Texture::kSpeckle: return {Defect::kSpot, Defect::kScratch};
    case Texture::kConcrete: return {Defect::kCrack, Defect::kSpot};
    case Texture::kLeather: return {Defect::kStain, Defect::kScratch};
  }
  return {};
}

}  // namespace kiln::demo
