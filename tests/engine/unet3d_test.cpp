// A volumetric (3-D) U-Net exported by PyTorch (tools/make_unet3d.py): Conv3d, BatchNorm3d,
// MaxPool3d and ConvTranspose3d over NCDHW volumes, run by kiln against PyTorch's own outputs,
// and two weight sets of the architecture sharing one plan as the 2-D U-Nets do.
#include <gtest/gtest.h>

#include "kiln/engine.h"
#include "kiln/model.h"
#include "test_util.h"

namespace kiln {
namespace {

using std::chrono::seconds;

std::string fx(const std::string& rel) { return testing::source_path("tests/fixtures/unet3d/" + rel); }
const std::string kA = "w4_16x32x32";        // seed 0
const std::string kB = "w4_16x32x32_seed7";  // the same architecture, other weights

Tensor npy(const std::string& rel) {
  auto t = read_npy(fx(rel));
  EXPECT_TRUE(t) << rel;
  return t ? *t : Tensor();
}

TEST(UNet3D, Width4At16x32x32MatchesPyTorchOnOneDnn) {
  auto model = Model::load(fx(kA + "/model.onnx"));
  ASSERT_TRUE(model) << model.error().message();
  EXPECT_EQ(model->info().source_ops.at("Conv"), 15);
  EXPECT_EQ(model->info().source_ops.at("ConvTranspose"), 3);
  EXPECT_EQ(model->info().source_ops.at("BatchNormalization"), 14);
  const Tensor x = npy(kA + "/input.npy");
  ASSERT_EQ(x.shape(), (Shape{1, 1, 16, 32, 32}));
  auto out = model->run({x});
  ASSERT_TRUE(out) << out.error().message();
  const Tensor expected = npy(kA + "/expected.npy");
  EXPECT_EQ((*out)[0].shape(), expected.shape());
  EXPECT_LE(testing::max_abs_diff((*out)[0], expected), 1e-4);
  // Every step on oneDNN, the batch norms folded into their convolutions.
  EXPECT_EQ(model->info().reference_steps, 0u);
  EXPECT_EQ(model->info().optimizations.at("fold_batch_norm"), 14);
}

// The same network with trilinear upsampling (Resize over three axes) instead of transposed
// convolutions: oneDNN's linear resampling, as PyTorch computes it.
TEST(UNet3D, TrilinearUpsamplingMatchesPyTorch) {
  const std::string dir = "w4_16x32x32_trilinear";
  auto model = Model::load(fx(dir + "/model.onnx"));
  ASSERT_TRUE(model) << model.error().message();
  EXPECT_EQ(model->info().source_ops.at("Resize"), 3);
  auto out = model->run({npy(dir + "/input.npy")});
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_LE(testing::max_abs_diff((*out)[0], npy(dir + "/expected.npy")), 1e-4);
  EXPECT_EQ(model->info().reference_steps, 0u);
}

TEST(UNet3D, TwoWeightSetsShareAPlanAndSwapHot) {
  Engine e;
  ASSERT_TRUE(e.load("a", LoadSpec{fx(kA + "/model.onnx")}));
  ASSERT_TRUE(e.load("b", LoadSpec{fx(kB + "/model.onnx")}));
  ASSERT_TRUE(e.wait_ready("a", seconds(120))) << e.status("a")->error;
  ASSERT_TRUE(e.wait_ready("b", seconds(120))) << e.status("b")->error;
  EXPECT_TRUE(e.status("b")->plan_shared);
  EXPECT_EQ(e.status("a")->fingerprint, e.status("b")->fingerprint);
  EXPECT_EQ(e.memory().plans, 1u);
  auto run1 = [&](const std::string& name) {
    auto out = e.run(name, {npy(kA + "/input.npy")});  // both fixtures hold the same input
    EXPECT_TRUE(out) << out.error().message();
    return out ? (*out)[0] : Tensor();
  };
  EXPECT_LE(testing::max_abs_diff(run1("a"), npy(kA + "/expected.npy")), 1e-4);
  EXPECT_LE(testing::max_abs_diff(run1("b"), npy(kB + "/expected.npy")), 1e-4);
  EXPECT_GT(testing::max_abs_diff(npy(kA + "/expected.npy"), npy(kB + "/expected.npy")), 1e-3);  // they differ
  // a takes b's weights, hot: the plan stays, the answers become b's.
  ASSERT_TRUE(e.load_weights("a", fx(kB + "/model.onnx")));
  EXPECT_LE(testing::max_abs_diff(run1("a"), npy(kB + "/expected.npy")), 1e-4);
  EXPECT_EQ(e.memory().plans, 1u);
}

}  // namespace
}  // namespace kiln
