// Winograd against direct convolution on the committed demo models (U-Net-8, 512x512): the
// masks agree (IoU >= 0.999 at threshold 0.5) and the probabilities differ by < 1e-3.
// The direct plan is the reference; it is itself checked against PyTorch elsewhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "kiln/demo.h"
#include "kiln/engine.h"
#include "kiln/model.h"
#include "test_util.h"

namespace kiln::demo {
namespace {

TEST(Winograd, MatchesDirectConvolutionOnTheDemoModels) {
  std::string dir = kiln::testing::source_path("models/demo");
  if (!std::filesystem::exists(dir + "/unet.onnx")) GTEST_SKIP() << dir << " has no demo models";
  for (int c = 0; c < kTextureCount; ++c) {
    auto t = static_cast<Texture>(c);
    std::string name = texture_name(t);
    ModelOptions direct_opt;
    direct_opt.weights = dir + "/" + name + ".safetensors";
    ModelOptions wino_opt = direct_opt;
    wino_opt.conv_algorithm = ConvAlgorithm::kWinograd;
    auto direct = Model::load(dir + "/unet.onnx", direct_opt);
    auto wino = Model::load(dir + "/unet.onnx", wino_opt);
    ASSERT_TRUE(direct) << direct.error().message();
    ASSERT_TRUE(wino) << wino.error().message();

    Sample s = generate(t, 424242);
    auto profile = wino->profile({s.image});
    ASSERT_TRUE(profile);
    int wino_steps = 0;
    for (const StepProfile& p : *profile) wino_steps += p.kind == "conv.winograd";
    EXPECT_GE(wino_steps, 10) << "the Winograd plan should run most 3x3 layers with Winograd";

    double max_abs = 0;
    Score agree{};
    for (int i = 0; i < 2; ++i) {
      Sample img = generate(t, 500 + static_cast<uint64_t>(i));
      auto a = direct->run({img.image});
      auto b = wino->run({img.image});
      ASSERT_TRUE(a && b);
      const float* pa = (*a)[0].data<float>();
      const float* pb = (*b)[0].data<float>();
      for (int64_t k = 0; k < (*a)[0].elements(); ++k) max_abs = std::max(max_abs, double(std::fabs(pa[k] - pb[k])));
      Tensor mask_a = (*a)[0].clone();
      for (int64_t k = 0; k < mask_a.elements(); ++k) mask_a.data<float>()[k] = pa[k] > 0.5f ? 1.0f : 0.0f;
      agree = score((*b)[0], mask_a, 0.5f);
      std::printf("[winograd] %-14s image %d: max |p_wino - p_direct| %.2e, mask IoU vs direct %.5f (%d wino steps)\n",
                  name.c_str(), i, max_abs, agree.iou, wino_steps);
      // An empty mask in both is agreement too; score() reports IoU 1 for it.
      EXPECT_GE(agree.iou, 0.999) << name;
    }
    EXPECT_LT(max_abs, 1e-3) << name;
  }
}

// Winograd weights are laid out differently: a pack made for the direct plan of the same
// architecture is refused by the Winograd plan (and would compute garbage if it were not).
TEST(Winograd, PackOfTheDirectPlanIsRefusedByTheWinogradPlan) {
  std::string dir = kiln::testing::source_path("models/demo");
  if (!std::filesystem::exists(dir + "/unet.onnx")) GTEST_SKIP() << dir << " has no demo models";
  std::string pack = (std::filesystem::path(::testing::TempDir()) / "direct_plan.kwp").string();
  LoadSpec spec;
  spec.model = dir + "/unet.onnx";
  spec.weights = dir + "/leather.safetensors";
  {
    Engine direct;
    ASSERT_TRUE(direct.load("m", spec));
    ASSERT_TRUE(direct.wait_ready("m", std::chrono::minutes(2)));
    ASSERT_TRUE(direct.export_pack("m", pack));
  }
  EngineOptions opt;
  opt.conv_algorithm = ConvAlgorithm::kWinograd;
  Engine wino(opt);
  LoadSpec from_pack = spec;
  from_pack.weights = pack;
  ASSERT_TRUE(wino.load("m", from_pack));
  Status s = wino.wait_ready("m", std::chrono::minutes(2));
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("laid out for another plan"), std::string::npos) << s.message();
  // The same weights from their own file are fine.
  ASSERT_TRUE(wino.load("ok", spec));
  EXPECT_TRUE(wino.wait_ready("ok", std::chrono::minutes(2)));
}

}  // namespace
}  // namespace kiln::demo
