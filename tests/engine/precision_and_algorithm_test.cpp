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

// Mask agreement (IoU at 0.5) and the largest probability difference of two models over
// two images.
struct Agreement {
  double iou = 1, max_abs = 0;
};
Agreement agreement(Model& a, Model& b, Texture t) {
  double inter = 0, uni = 0, max_abs = 0;
  for (int i = 0; i < 2; ++i) {
    Sample img = generate(t, 900 + static_cast<uint64_t>(i));
    auto pa = a.run({img.image});
    auto pb = b.run({img.image});
    EXPECT_TRUE(pa && pb);
    if (!pa || !pb) return {0, 1};
    const float* x = (*pa)[0].data<float>();
    const float* y = (*pb)[0].data<float>();
    for (int64_t k = 0; k < (*pa)[0].elements(); ++k) {
      inter += x[k] > 0.5f && y[k] > 0.5f;
      uni += x[k] > 0.5f || y[k] > 0.5f;
      max_abs = std::max(max_abs, double(std::fabs(x[k] - y[k])));
    }
  }
  return {uni == 0 ? 1.0 : inter / uni, max_abs};
}

int layers(const ModelInfo& i) {
  int n = 0;
  for (const auto& [variant, count] : i.conv_variants) n += count;
  return n;
}

// --precision auto keeps fp32 results: every layer fp32 (direct or Winograd, as measured),
// probabilities as close to fp32 direct as Winograd's are; each layer's choice is recorded
// with the times measured while compiling.
TEST(AutoPrecision, KeepsFp32ResultsOnTheDemoModels) {
  if (!std::filesystem::exists(demo_dir() + "/unet.onnx")) GTEST_SKIP() << "no demo models";
  for (Texture t : {Texture::kBrushedMetal, Texture::kWoodGrain}) {
    std::string name = texture_name(t);
    Pair pair = load_pair(name, [](ModelOptions& o) { o.precision = Precision::kAuto; });
    ASSERT_TRUE(pair.reference) << pair.reference.error().message();
    ASSERT_TRUE(pair.variant) << pair.variant.error().message();
    const ModelInfo& info = pair.variant->info();
    EXPECT_EQ(layers(info), layers(pair.reference->info()));
    for (const auto& [variant, count] : info.conv_variants)
      EXPECT_TRUE(variant == "fp32 direct" || variant == "fp32 winograd") << variant;
    EXPECT_GT(info.conv_ms, 0);
    EXPECT_GT(info.conv_fp32_direct_ms, 0);
    EXPECT_TRUE(info.slower_than_fp32.empty()) << "auto is never reported slower: " << info.slower_than_fp32;
    auto profile = pair.variant->profile({generate(t, 1).image});
    ASSERT_TRUE(profile);
    int described = 0;
    for (const StepProfile& s : *profile) described += !s.measured.empty() && s.measured.find("fp32 direct") != std::string::npos;
    EXPECT_GT(described, 0) << "no step shows the alternatives measured";
    Agreement a = agreement(*pair.reference, *pair.variant, t);
    std::printf("[auto] %-14s %s; vs fp32 direct: mask IoU %.5f, max |dp| %.2e\n", name.c_str(),
                [&] { std::string s; for (const auto& [v, c] : info.conv_variants) s += std::to_string(c) + " " + v + " "; return s; }().c_str(),
                a.iou, a.max_abs);
    EXPECT_LT(a.max_abs, 1e-3) << name;
    EXPECT_GE(a.iou, 0.999) << name;
  }
}

// auto-bf16 may round as bf16 does where that measured faster: masks agree with fp32 as
// bf16's do (IoU >= 0.99), and where the CPU has no AVX512_BF16 it is simply auto.
TEST(AutoPrecision, Bf16AllowedAgreesWithFp32OnTheDemoModels) {
  if (!std::filesystem::exists(demo_dir() + "/unet.onnx")) GTEST_SKIP() << "no demo models";
  for (Texture t : {Texture::kConcrete, Texture::kSpeckle}) {
    std::string name = texture_name(t);
    Pair pair = load_pair(name, [](ModelOptions& o) { o.precision = Precision::kAutoBF16; });
    ASSERT_TRUE(pair.reference) << pair.reference.error().message();
    ASSERT_TRUE(pair.variant) << pair.variant.error().message();
    EXPECT_EQ(layers(pair.variant->info()), layers(pair.reference->info()));
    Agreement a = agreement(*pair.reference, *pair.variant, t);
    std::printf("[auto-bf16] %-14s vs fp32 direct: mask IoU %.5f, max |dp| %.3f\n", name.c_str(), a.iou, a.max_abs);
    EXPECT_GE(a.iou, 0.99) << name;
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
