// End to end: the classic 24-convolution U-Net exported by PyTorch (tools/make_unet.py),
// run by kiln, against PyTorch's own outputs.
#include <gtest/gtest.h>

#include "kiln/model.h"
#include "test_util.h"

namespace kiln {
namespace {

void check_fixture(const std::string& dir) {
  auto input = read_npy(testing::source_path(dir + "/input.npy"));
  auto expected = read_npy(testing::source_path(dir + "/expected.npy"));
  ASSERT_TRUE(input && expected);
  auto model = Model::load(testing::source_path(dir + "/model.onnx"));
  ASSERT_TRUE(model) << model.error().message();
  EXPECT_EQ(model->info().source_ops.at("Conv"), 24);
  auto out = model->run({*input});
  ASSERT_TRUE(out) << out.error().message();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].shape(), expected->shape());
  EXPECT_LE(testing::max_abs_diff((*out)[0], *expected), 1e-4);
  // Every activation and the 2x2 up-convolutions' asymmetric pads were folded into convs.
  EXPECT_EQ(model->info().optimizations.at("fold_pad_into_conv"), 4);
  EXPECT_EQ(model->info().reference_steps, 0u);
  // A second run on the same runner gives the same answer (the arena is reused).
  auto again = model->run({*input});
  ASSERT_TRUE(again);
  EXPECT_EQ(testing::max_abs_diff((*out)[0], (*again)[0]), 0.0);
}

TEST(UNetEndToEnd, Width4At64x64MatchesPyTorch) { check_fixture("tests/fixtures/unet/w4_64x64"); }
TEST(UNetEndToEnd, Width8At96x128MatchesPyTorch) { check_fixture("tests/fixtures/unet/w8_96x128"); }

}  // namespace
}  // namespace kiln
