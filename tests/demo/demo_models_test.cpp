// The committed demo models: each one's IoU on its held-out set, measured by kiln now, stays
// at or above its model card's figure minus 0.02.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "kiln/demo.h"
#include "kiln/engine.h"
#include "test_util.h"

namespace kiln::demo {
namespace {

constexpr uint64_t kHeldOutSeed = 900000;  // as in `kiln demo --evaluate` and the cards

struct Card {
  int images = 0;
  double iou = -1;
};

Card read_card(const std::string& path) {
  std::ifstream f(path);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Card c;
  std::smatch m;
  if (std::regex_search(text, m, std::regex(R"(- images: (\d+))"))) c.images = std::stoi(m[1]);
  if (std::regex_search(text, m, std::regex(R"(- IoU: ([0-9.]+))"))) c.iou = std::stod(m[1]);
  return c;
}

TEST(DemoModels, HeldOutIouMatchesTheModelCards) {
  std::string dir = kiln::testing::source_path("models/demo");
  if (!std::filesystem::exists(dir + "/unet.onnx")) GTEST_SKIP() << dir << " has no demo models";
  Engine engine;
  for (int c = 0; c < kTextureCount; ++c) {
    std::string name = texture_name(static_cast<Texture>(c));
    LoadSpec spec;
    spec.model = dir + "/unet.onnx";
    spec.weights = dir + "/" + name + ".safetensors";
    ASSERT_TRUE(engine.load(name, spec));
  }
  for (int c = 0; c < kTextureCount; ++c) {
    auto t = static_cast<Texture>(c);
    std::string name = texture_name(t);
    ASSERT_TRUE(engine.wait_ready(name, std::chrono::minutes(2)));
    Card card = read_card(dir + "/" + name + ".md");
    ASSERT_GT(card.images, 0) << "no '- images:' line in " << name << ".md";
    ASSERT_GE(card.iou, 0.0) << "no '- IoU:' line in " << name << ".md";
    size_t plane = static_cast<size_t>(kImageSize) * kImageSize;
    Tensor pred = Tensor::zeros(DType::kF32, {card.images, 1, kImageSize, kImageSize});
    Tensor truth = Tensor::zeros(DType::kF32, {card.images, 1, kImageSize, kImageSize});
    for (int i = 0; i < card.images; ++i) {
      Sample s = generate(t, kHeldOutSeed + static_cast<uint64_t>(i));
      auto out = engine.run(name, {s.image});
      ASSERT_TRUE(out) << out.error().message();
      std::copy_n((*out)[0].data<float>(), plane, pred.data<float>() + i * plane);
      std::copy_n(s.mask.data<float>(), plane, truth.data<float>() + i * plane);
    }
    Score q = score(pred, truth, 0.5f);
    std::printf("[demo model] %-14s IoU %.3f (card %.3f)\n", name.c_str(), q.iou, card.iou);
    EXPECT_GE(q.iou, card.iou - 0.02) << name;
  }
  EXPECT_EQ(engine.memory().plans, 1u);  // six models, one plan
}

}  // namespace
}  // namespace kiln::demo
