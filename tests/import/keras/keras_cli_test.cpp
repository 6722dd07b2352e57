// `kiln run MODEL --weights other.h5` and `kiln inspect` on Keras and TensorFlow files,
// through the real binary.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include "import/keras/keras_test_util.h"
#include "import/tf/context.h"
#include "kiln/io.h"
#include "ops/differential.h"

namespace kiln {
namespace {

using namespace kerastest;

using Result = testing::CliResult;
using testing::run_cli;

TEST(KerasCli, InspectListsKerasNames) {
  REQUIRE_KERAS_FIXTURES();
  Result r = run_cli("inspect " + fixtures() + "/fullModel.h5");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("input_1 [1,512,512,1]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("activation_2 [1,512,512,2]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("keras 2.3.0-tf"), std::string::npos) << r.output;
}

TEST(KerasCli, RunKerasModelWithWeightsOnlyFile) {
  REQUIRE_KERAS_FIXTURES();
  testing::Rand rnd(3);
  std::string in = temp_path("cli_in.npy"), own = temp_path("cli_own.npy"), swapped = temp_path("cli_swapped.npy");
  ASSERT_TRUE(write_npy(in, rnd.tensor({1, 64, 64, 1}, 0.0f, 1.0f)));
  Result a = run_cli("run " + fixtures() + "/fullModel.h5 --input " + in + " --output " + own);
  Result b = run_cli("run " + fixtures() + "/fullModel.h5 --input " + in + " --weights " + fixtures() +
                     "/pretrained.h5 --output " + swapped);
  ASSERT_EQ(a.code, 0) << a.output;
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_NE(b.output.find("activation_2 [1,64,64,2]"), std::string::npos) << b.output;
  auto y1 = read_npy(own), y2 = read_npy(swapped);
  ASSERT_TRUE(y1 && y2);
  EXPECT_EQ(testing::max_abs_diff(*y1, *y2), 0.0);
}

TEST(KerasCli, RunFrozenGraphWithKerasWeights) {
  namespace fs = std::filesystem;
  fs::path dir = testing::source_path("../shared/fixtures/tf/keras_deconv_same");
  if (!fs::is_directory(dir)) GTEST_SKIP() << "TensorFlow fixtures not found at " << dir;
  std::string pb = (dir / "keras_deconv_same_net.pb").string();
  tf::GraphDef g;
  ASSERT_TRUE(g.ParseFromString(tftest::read_bytes(pb)));
  // The graph's own weights, as Keras's save_weights() would write them, but doubled.
  std::vector<std::pair<std::string, Tensor>> named;
  for (const auto& n : g.node())
    for (const char* var : {"kernel", "bias"})
      if (n.name() == std::string("keras_deconv_same/") + var) {
        auto t = tf_import::tensor_from_proto(n.attr().at("value").tensor());
        ASSERT_TRUE(t);
        Tensor d = t->clone();
        for (int64_t i = 0; i < d.elements(); ++i) d.data<float>()[i] *= 2.0f;
        named.emplace_back(std::string("keras_deconv_same/") + var + ":0", d);
      }
  ASSERT_EQ(named.size(), 2u);
  std::string weights = temp_path("cli_deconv_weights.h5");
  write_keras_h5(weights, "", group_by_layer(named, {"keras_deconv_same"}));
  auto x = read_npy((dir / "keras_deconv_same_in.npy").string());
  auto y = read_npy((dir / "keras_deconv_same_out.npy").string());
  ASSERT_TRUE(x && y);
  std::string in = temp_path("cli_deconv_in.npy"), out = temp_path("cli_deconv_out.npy");
  ASSERT_TRUE(write_npy(in, nchw_to_nhwc(*x)));
  Result r = run_cli("run " + pb + " --input " + in + " --weights " + weights + " --output " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  auto got = read_npy(out);
  ASSERT_TRUE(got);
  // A transposed convolution with its bias is linear in its weights: twice the weights,
  // twice TensorFlow's output.
  Tensor want = nchw_to_nhwc(*y).clone();
  for (int64_t i = 0; i < want.elements(); ++i) want.data<float>()[i] *= 2.0f;
  EXPECT_LE(testing::max_abs_diff(*got, want), 2e-4);

  if (!have_fixtures()) return;
  Result bad = run_cli("run " + pb + " --input " + in + " --weights " + fixtures() + "/pretrained.h5");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("pretrained.h5"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace kiln
