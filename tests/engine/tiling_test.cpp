// Any input size and tiled inference (Model::run / run_tiled).
// Oracles: a model compiled directly at the other size (any size); whole-image inference of
// the same model (tiling), which tiles must match away from the image borders.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "kiln/demo.h"
#include "kiln/model.h"
#include "test_util.h"

namespace kiln {
namespace {

std::string demo_dir() { return kiln::testing::source_path("models/demo"); }

ModelOptions demo_options(const std::string& texture, Shape input) {
  ModelOptions o;
  o.weights = demo_dir() + "/" + texture + ".safetensors";
  o.input_shapes[""] = std::move(input);
  return o;
}

// A demo image cropped to h x w (the generator makes 512 x 512 ones).
Tensor crop(const Tensor& image, int64_t h, int64_t w) {
  Tensor out = Tensor::zeros(DType::kF32, {1, 1, h, w});
  const int64_t W = image.shape()[3];
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) out.data<float>()[y * w + x] = image.data<float>()[y * W + x];
  return out;
}

TEST(AnySize, OtherInputShapesGetTheirOwnPlanAndMatchADirectlyCompiledModel) {
  if (!std::filesystem::exists(demo_dir() + "/unet.onnx")) GTEST_SKIP() << "no demo models";
  auto m = Model::load(demo_dir() + "/unet.onnx", demo_options("wood_grain", {1, 1, 256, 256}));
  ASSERT_TRUE(m) << m.error().message();
  demo::Sample s = demo::generate(demo::Texture::kWoodGrain, 31);
  for (auto [h, w] : {std::pair<int64_t, int64_t>{128, 192}, {320, 256}, {128, 192}}) {
    Tensor x = crop(s.image, h, w);
    auto got = m->run({x});
    ASSERT_TRUE(got) << got.error().message();
    auto direct = Model::load(demo_dir() + "/unet.onnx", demo_options("wood_grain", {1, 1, h, w}));
    ASSERT_TRUE(direct) << direct.error().message();
    auto want = direct->run({x});
    ASSERT_TRUE(want);
    ASSERT_EQ((*got)[0].shape(), (*want)[0].shape());
    EXPECT_LE(kiln::testing::max_abs_diff((*got)[0], (*want)[0]), 1e-6) << h << "x" << w;
  }
  // The compiled shape still runs, and a shape the network cannot take is a clear error
  // that leaves the model usable.
  EXPECT_TRUE(m->run({crop(s.image, 256, 256)}));
  auto bad = m->run({crop(s.image, 100, 100)});  // 4 poolings need multiples of 16
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("input shape"), std::string::npos) << bad.error().message();
  EXPECT_TRUE(m->run({crop(s.image, 256, 256)}));
}

// Four demo images side by side: 1024 x 1024, defects in every quadrant.
Tensor mosaic(demo::Texture t) {
  Tensor out = Tensor::zeros(DType::kF32, {1, 1, 1024, 1024});
  for (int q = 0; q < 4; ++q) {
    demo::Sample s = demo::generate(t, 90 + static_cast<uint64_t>(q));
    for (int64_t y = 0; y < 512; ++y)
      std::copy_n(s.image.data<float>() + y * 512, 512,
                  out.data<float>() + ((q / 2) * 512 + y) * 1024 + (q % 2) * 512);
  }
  return out;
}

TEST(Tiling, TiledInferenceMatchesWholeImageAwayFromTheBorders) {
  if (!std::filesystem::exists(demo_dir() + "/unet.onnx")) GTEST_SKIP() << "no demo models";
  for (demo::Texture t : {demo::Texture::kConcrete}) {
    Tensor image = mosaic(t);
    std::string name = demo::texture_name(t);
    auto whole = Model::load(demo_dir() + "/unet.onnx", demo_options(name, {1, 1, 1024, 1024}));
    auto tiled = Model::load(demo_dir() + "/unet.onnx", demo_options(name, {1, 1, 512, 512}));
    ASSERT_TRUE(whole && tiled);
    auto want = whole->run({image});
    ASSERT_TRUE(want);
    for (int64_t overlap : {128, 256}) {
      auto got = tiled->run_tiled(image, TileOptions{overlap});
      ASSERT_TRUE(got) << got.error().message();
      const Tensor& a = (*got)[0];
      const Tensor& b = (*want)[0];
      ASSERT_EQ(a.shape(), b.shape());
      double worst = 0, worst_inner = 0;
      const int64_t H = 1024, W = 1024, margin = 16;
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          double d = std::fabs(a.data<float>()[y * W + x] - b.data<float>()[y * W + x]);
          worst = std::max(worst, d);
          if (y >= margin && y < H - margin && x >= margin && x < W - margin) worst_inner = std::max(worst_inner, d);
        }
      std::printf("[tiling] %-12s 1024x1024 in tiles of 512, overlap %3lld: max |tiled - whole| %.2e (%.2e beyond %lld px "
                  "of the border)\n",
                  name.c_str(), static_cast<long long>(overlap), worst, worst_inner, static_cast<long long>(margin));
      if (overlap == 256) EXPECT_LE(worst_inner, 1e-3) << name;
    }
  }
}

TEST(Tiling, ImagesSmallerThanATileAndBadRequests) {
  if (!std::filesystem::exists(demo_dir() + "/unet.onnx")) GTEST_SKIP() << "no demo models";
  auto m = Model::load(demo_dir() + "/unet.onnx", demo_options("leather", {1, 1, 256, 256}));
  ASSERT_TRUE(m);
  demo::Sample s = demo::generate(demo::Texture::kLeather, 5);
  Tensor small = crop(s.image, 128, 512);  // shorter than a tile, wider than one
  auto got = m->run_tiled(small, TileOptions{64});
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ((*got)[0].shape(), (Shape{1, 1, 128, 512}));
  auto rgb = m->run_tiled(Tensor::zeros(DType::kF32, {1, 3, 512, 512}));
  ASSERT_FALSE(rgb);
  EXPECT_NE(rgb.error().message().find("does not fit"), std::string::npos) << rgb.error().message();
  auto overlap = m->run_tiled(s.image, TileOptions{256});
  ASSERT_FALSE(overlap);
  EXPECT_NE(overlap.error().message().find("overlap"), std::string::npos);
}

}  // namespace
}  // namespace kiln
