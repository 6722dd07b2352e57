#include "demo/generator.h"

#include <algorithm>

namespace kiln::demo {

namespace {
constexpr const char* kTextureNames[kTextureCount] = {"brushed_metal", "woven_fabric", "wood_grain",
                                                      "speckle",       "concrete",     "leather"};
constexpr float kMaskLevel = 0.5f;  // a pixel is defective where the defect's profile reaches half
}  // namespace

const char* texture_name(Texture t) { return kTextureNames[static_cast<int>(t)]; }

Expected<Texture> texture_from_name(const std::string& name) {
  for (int i = 0; i < kTextureCount; ++i)
    if (name == kTextureNames[i]) return static_cast<Texture>(i);
  std::string all;
  for (const char* n : kTextureNames) all += std::string(all.empty() ? "" : ", ") + n;
  return invalid_argument("unknown texture class '" + name + "' (classes: " + all + ")");
}

const char* defect_name(Defect d) {
  switch (d) {
    case Defect::kScratch: return "scratch";
    case Defect::kSpot: return "spot";
    case Defect::kCrack: return "crack";
    case Defect::kStain: return "stain";
    case Defect::kMissingTexture: return "missing texture";
  }
  return "?";
}

Sample generate(Texture texture, uint64_t seed, int size, bool defect_free) {
  // Mix the class into the seed so that classes with the same seed still differ.
  uint64_t s = seed * 131 + static_cast<uint64_t>(texture) * 0x51ED27;
  Rng rng(s);
  std::vector<float> img(static_cast<size_t>(size) * size), strength(img.size(), 0.0f);
  draw_texture(texture, img, size, rng, s);
  Sample out;
  if (!defect_free) {
    std::vector<Defect> kinds = typical_defects(texture);
    int count = rng.uniform() < 0.3 ? 2 : 1;
    for (int i = 0; i < count; ++i) {
      Defect d = kinds[static_cast<size_t>(rng.range(0, static_cast<int>(kinds.size()) - 1))];
      draw_defect(d, img, strength, size, rng, s + 1000 + static_cast<uint64_t>(i));
      out.defects.push_back(d);
    }
  }
  out.image = Tensor::zeros(DType::kF32, {1, 1, size, size});
  out.mask = Tensor::zeros(DType::kF32, {1, 1, size, size});
  for (size_t i = 0; i < img.size(); ++i) {
    out.image.data<float>()[i] = std::clamp(img[i], 0.0f, 1.0f);
    out.mask.data<float>()[i] = strength[i] >= kMaskLevel ? 1.0f : 0.0f;
  }
  return out;
}

}  // namespace kiln::demo
