// Regions of a score map, pixel scores against a mask, and overlays for a person to look at.
#include <algorithm>
#include <vector>

#include <stb/stb_image_write.h>

#include "kiln/demo.h"

namespace kiln::demo {

namespace {

// The last two axes longer than 1 are height and width, so [1,1,H,W] and [1,H,W,1] both work.
bool plane(const Tensor& t, int64_t& h, int64_t& w) {
  std::vector<int64_t> big;
  for (int64_t d : t.shape())
    if (d != 1) big.push_back(d);
  if (big.size() != 2 || t.dtype() != DType::kF32) return false;
  h = big[0];
  w = big[1];
  return true;
}

}  // namespace

std::vector<Region> find_regions(const Tensor& scores, float threshold, int64_t min_area) {
  std::vector<Region> out;
  int64_t h, w;
  if (!plane(scores, h, w)) return out;
  const float* s = scores.data<float>();
  std::vector<uint8_t> seen(static_cast<size_t>(h * w), 0);
  std::vector<int64_t> stack;
  for (int64_t start = 0; start < h * w; ++start) {
    if (seen[start] || s[start] < threshold) continue;
    Region r{start % w, start / w, start % w, start / w, 0, 0.0};
    double sum = 0;
    seen[start] = 1;
    stack.push_back(start);
    while (!stack.empty()) {
      int64_t p = stack.back();
      stack.pop_back();
      int64_t y = p / w, x = p % w;
      ++r.area;
      sum += s[p];
      r.x0 = std::min(r.x0, x), r.x1 = std::max(r.x1, x), r.y0 = std::min(r.y0, y), r.y1 = std::max(r.y1, y);
      for (int64_t dy = -1; dy <= 1; ++dy)
        for (int64_t dx = -1; dx <= 1; ++dx) {
          int64_t ny = y + dy, nx = x + dx;
          if (ny < 0 || ny >= h || nx < 0 || nx >= w) continue;
          int64_t q = ny * w + nx;
          if (seen[q] || s[q] < threshold) continue;
          seen[q] = 1;
          stack.push_back(q);
        }
    }
    r.mean_score = sum / static_cast<double>(r.area);
    if (r.area >= min_area) out.push_back(r);
  }
  return out;
}

Score score(const Tensor& scores, const Tensor& truth, float threshold) {
  Score q;
  if (scores.elements() != truth.elements()) return q;
  int64_t tp = 0, fp = 0, fn = 0;
  for (int64_t i = 0; i < scores.elements(); ++i) {
    bool p = scores.data<float>()[i] >= threshold, t = truth.data<float>()[i] >= 0.5f;
    tp += p && t;
    fp += p && !t;
    fn += !p && t;
  }
  double uni = static_cast<double>(tp + fp + fn);
  q.iou = uni > 0 ? static_cast<double>(tp) / uni : 1.0;
  q.f1 = uni > 0 ? 2.0 * static_cast<double>(tp) / static_cast<double>(2 * tp + fp + fn) : 1.0;
  return q;
}

Status write_overlay_png(const std::string& path, const Tensor& image, const Tensor& scores, float threshold,
                         const std::vector<Region>& regions) {
  int64_t h, w, sh, sw;
  if (!plane(image, h, w) || !plane(scores, sh, sw) || h != sh || w != sw)
    return invalid_argument("overlay: image and scores must be single-channel planes of one size");
  std::vector<uint8_t> rgb(static_cast<size_t>(h * w * 3));
  for (int64_t i = 0; i < h * w; ++i) {
    float g = std::clamp(image.data<float>()[i], 0.0f, 1.0f) * 255.0f;
    bool defect = scores.data<float>()[i] >= threshold;
    rgb[3 * i] = static_cast<uint8_t>(defect ? std::min(255.0f, 0.45f * g + 140.0f) : g);
    rgb[3 * i + 1] = static_cast<uint8_t>(defect ? 0.45f * g : g);
    rgb[3 * i + 2] = static_cast<uint8_t>(defect ? 0.45f * g : g);
  }
  auto put = [&](int64_t x, int64_t y) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    uint8_t* p = &rgb[3 * (y * w + x)];
    p[0] = 255, p[1] = 220, p[2] = 0;
  };
  for (const Region& r : regions) {
    for (int64_t x = r.x0 - 2; x <= r.x1 + 2; ++x) put(x, r.y0 - 2), put(x, r.y1 + 2);
    for (int64_t y = r.y0 - 2; y <= r.y1 + 2; ++y) put(r.x0 - 2, y), put(r.x1 + 2, y);
  }
  if (!stbi_write_png(path.c_str(), static_cast<int>(w), static_cast<int>(h), 3, rgb.data(), static_cast<int>(w * 3)))
    return io_error("cannot write '" + path + "'");
  return Status::ok();
}

}  // namespace kiln::demo
