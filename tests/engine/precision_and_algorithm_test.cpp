// Faster arithmetic against the exact kind, on the committed demo models (U-Net-8,
// 512x512): Winograd against direct convolution (probabilities within 1e-3, masks IoU
// >= 0.999), bf16 against fp32 (masks IoU >= 0.99), and pack files refused across the two
// layouts. The fp32 direct plan is the reference; it is itself checked against PyTorch
// elsewhere.
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

std::string demo_dir() { return kiln::testing::source_path("models/demo"); }

// One demo model twice: as shipped (the reference) and with `variant` applied to its options.
struct Pair {
  Expected<Model> reference = internal_error("unset"), variant = internal_error("unset");
};
template <typename Edit>
Pair load_pair(const std::string& texture, Edit variant) {
  ModelOptions opt;
  opt.weights = demo_dir() + "/" + texture + ".safetensors";
  ModelOptions changed = opt;
  variant(changed);
  return {Model::load(demo_dir() + "/unet.onnx", opt), Model::load(demo_dir() + "/unet.onnx", changed)};
}

// Steps of one profiled run that satisfy `pred`.
template <typename Pred>
int count_steps(Model& m, Texture t, Pred pred) {
  Sample s = generate(t, 424242);
  auto profile = m.profile({s.image});
  EXPECT_TRUE(profile);
  int n = 0;
  if (profile)
    for (const StepProfile& p : *profile) n += pred(p);
  return n;
}

TEST(Winograd, MatchesDirectConvolutionOnTheDemoModels) {
  if (!std::filesystem::exists(demo_dir() + "/unet.onnx")) GTEST_SKIP() << "no demo models";
  for (int c = 0; c < kTextureCount; ++c) {
    auto t = static_cast<Texture>(c);
    std::string name = texture_name(t);
    Pair pair = load_pair(name, [](ModelOptions& o) { o.conv_algorithm = ConvAlgorithm::kWinograd; });
    auto& direct = pair.reference;
    auto& wino = pair.variant;
    ASSERT_TRUE(direct) << direct.error().message();
    ASSERT_TRUE(wino) << wino.error().message();
    int wino_steps = count_steps(*wino, t, [](const StepProfile& p) { return p.kind == "conv.winograd"; });
    EXPECT_GE(wino_steps, 10) << "the Winograd plan should run most 3x3 layers with Winograd";

    double max_abs = 0;
    Score agree{};
    for (int i = 0; i < 1; ++i) {
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

// bf16 against fp32 on the demo models: masks agree (IoU >= 0.99 at 0.5), and the bf16
// plan really runs bf16 kernels.
TEST(Bf16, MatchesFp32OnTheDemoModels) {
  if (!std::filesystem::exists(demo_dir() + "/unet.onnx")) GTEST_SKIP() << "no demo models";
  for (int c = 0; c < kTextureCount; ++c) {
    auto t = static_cast<Texture>(c);
    std::string name = texture_name(t);
    Pair pair = load_pair(name, [](ModelOptions& o) { o.precision = Precision::kBF16; });
    auto& fp32 = pair.reference;
    auto& bf16 = pair.variant;
    ASSERT_TRUE(fp32) << fp32.error().message();
    if (!bf16 && bf16.error().message().find("AVX512_BF16") != std::string::npos)
      GTEST_SKIP() << "this CPU has no AVX512_BF16: " << bf16.error().message();
    ASSERT_TRUE(bf16) << bf16.error().message();
    int bf16_steps = count_steps(*bf16, t, [](const StepProfile& p) {
      return p.kind == "conv" && p.impl.find("bf16") != std::string::npos;
    });
    EXPECT_GE(bf16_steps, 10);
    // Pixels near 0.5 may flip; over a few images the masks must still agree.
    double inter = 0, uni = 0, max_abs = 0;
    for (int i = 0; i < 2; ++i) {
      Sample img = generate(t, 700 + static_cast<uint64_t>(i));
      auto a = fp32->run({img.image});
      auto b = bf16->run({img.image});
      ASSERT_TRUE(a && b);
      const float* pa = (*a)[0].data<float>();
      const float* pb = (*b)[0].data<float>();
      for (int64_t k = 0; k < (*a)[0].elements(); ++k) {
        bool ma = pa[k] > 0.5f, mb = pb[k] > 0.5f;
        inter += ma && mb;
        uni += ma || mb;
        max_abs = std::max(max_abs, double(std::fabs(pa[k] - pb[k])));
      }
    }
    double iou = uni == 0 ? 1.0 : inter / uni;
    std::printf("[bf16] %-14s mask IoU vs fp32 %.4f over %.0f mask pixels, max |p_bf16 - p_fp32| %.3f\n", name.c_str(),
                iou, uni, max_abs);
    EXPECT_GE(iou, 0.99) << name;
    EXPECT_GT(max_abs, 0.0) << "bf16 results identical to fp32: is the plan really bf16?";
  }
}

// Winograd weights are laid out differently: a pack made for the direct plan of the same
// architecture is refused by the Winograd plan (and would compute garbage if it were not).
TEST(Winograd, PackOfTheDirectPlanIsRefusedByTheWinogradPlan) {
  std::string dir = demo_dir();
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
