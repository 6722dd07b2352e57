// kiln/demo.h — synthetic surface-defect images, region extraction and scoring.
//
//   kiln::demo::Sample s = kiln::demo::generate(kiln::demo::Texture::kWoodGrain, /*seed=*/7);
//   // s.image: [1,1,512,512] float32 in [0,1]; s.mask: [1,1,512,512] 0/1, the defect pixels
//   auto regions = kiln::demo::find_regions(scores, 0.5f, /*min_area=*/16);
//   kiln::demo::Score q = kiln::demo::score(scores, s.mask, 0.5f);   // IoU, pixel F1
//
// Images are textured surfaces in the style of the DAGM-2007 benchmark, one texture class
// per product, each with its typical defects. Everything is a pure function of (class,
// seed): the generator uses its own random numbers, never the standard library's
// distributions, so the same seed gives the same image on every platform.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::demo {

enum class Texture : uint8_t { kBrushedMetal, kWovenFabric, kWoodGrain, kSpeckle, kConcrete, kLeather };
constexpr int kTextureCount = 6;
const char* texture_name(Texture t);  // "brushed_metal", ...
Expected<Texture> texture_from_name(const std::string& name);

enum class Defect : uint8_t { kScratch, kSpot, kCrack, kStain, kMissingTexture };
const char* defect_name(Defect d);

struct Sample {
  Tensor image;                  // [1,1,size,size] float32 in [0,1]
  Tensor mask;                   // [1,1,size,size] float32, 1 on defect pixels
  std::vector<Defect> defects;   // what was drawn (empty for a defect-free sample)
};

constexpr int kImageSize = 512;

// A sample of `texture` with 1-2 of its typical defects, or none when `defect_free`.
Sample generate(Texture texture, uint64_t seed, int size = kImageSize, bool defect_free = false);

// Connected regions (8-connectivity) of `scores >= threshold` with at least `min_area` pixels.
struct Region {
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // inclusive bounding box
  int64_t area = 0;                        // pixels
  double mean_score = 0;
};
std::vector<Region> find_regions(const Tensor& scores, float threshold, int64_t min_area);

struct Score {
  double iou = 0;  // |pred and truth| / |pred or truth| over all pixels (1 when both are empty)
  double f1 = 0;   // pixel F1
};
Score score(const Tensor& scores, const Tensor& truth, float threshold);

// An RGB PNG of the image with defect pixels tinted red and region boxes drawn in yellow.
Status write_overlay_png(const std::string& path, const Tensor& image, const Tensor& scores, float threshold,
                         const std::vector<Region>& regions);

}  // namespace kiln::demo
