// The kiln command: exit codes and messages, through the real binary.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>

#include "kiln/model.h"
#include "reference/reference.h"
#include "test_util.h"

namespace kiln {
namespace {

using Result = testing::CliResult;
using testing::run_cli;

std::string fx(const std::string& rel) { return testing::source_path("tests/fixtures/" + rel); }

TEST(Cli, RunWritesOutputMatchingPyTorch) {
  std::string out = ::testing::TempDir() + "/kiln_cli_out.npy";
  Result r = run_cli("run " + fx("unet/w4_64x64/model.onnx") + " --input " + fx("unet/w4_64x64/input.npy") +
                     " --output " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("fingerprint"), std::string::npos);
  auto got = read_npy(out);
  auto want = read_npy(fx("unet/w4_64x64/expected.npy"));
  ASSERT_TRUE(got && want);
  EXPECT_LE(testing::max_abs_diff(*got, *want), 1e-4);
}

TEST(Cli, RunReadsAVolumeFromNpy) {
  // A 3-D U-Net (NCDHW) on a volume: the .npy holds the model's layout, rank 5.
  std::string out = ::testing::TempDir() + "/kiln_cli_volume.npy";
  Result r = run_cli("run " + fx("unet3d/w4_16x32x32/model.onnx") + " --input " + fx("unet3d/w4_16x32x32/input.npy") +
                     " --output " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  auto got = read_npy(out);
  auto want = read_npy(fx("unet3d/w4_16x32x32/expected.npy"));
  ASSERT_TRUE(got && want);
  EXPECT_EQ(got->shape(), (Shape{1, 1, 16, 32, 32}));
  EXPECT_LE(testing::max_abs_diff(*got, *want), 1e-4);
}

TEST(Cli, RunWritesAMultiClassModelsClassesAsAPalettePng) {
  // A model ending in ArgMax over channels, and one ending in Softmax: both give the same
  // picture of classes, coloured by the palette.
  auto want = read_npy(fx("heads/expected_seg_argmax.npy"));
  ASSERT_TRUE(want);
  for (const char* model : {"heads/seg_argmax.onnx", "heads/seg_softmax.onnx"}) {
    SCOPED_TRACE(model);
    std::string png = ::testing::TempDir() + "/kiln_cli_classes.png";
    Result r = run_cli("run " + fx(model) + " --input " + fx("heads/input.npy") + " --output " + png);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("palette PNG"), std::string::npos) << r.output;
    auto rgb = read_image(png, 3);
    ASSERT_TRUE(rgb) << rgb.error().message();
    int wrong = 0;
    for (int64_t i = 0; i < want->elements(); ++i) {
      const auto c = class_colour(static_cast<int>(want->data<float>()[i]));
      for (int ch = 0; ch < 3; ++ch) wrong += std::lround(rgb->data<float>()[ch * want->elements() + i] * 255.0f) != c[ch];
    }
    EXPECT_EQ(wrong, 0);
  }
}

TEST(Cli, RunOnAnImageWritesAMask) {
  // A 64x64 gray PNG made from the fixture input, through kiln's own mask writer.
  auto x = read_npy(fx("unet/w4_64x64/input.npy"));
  ASSERT_TRUE(x);
  std::string png = ::testing::TempDir() + "/kiln_cli_in.png", mask = ::testing::TempDir() + "/kiln_cli_mask.png";
  ASSERT_TRUE(write_mask_png(png, *x, -1.0f));
  Result r = run_cli("run " + fx("unet/w4_64x64/model.onnx") + " --input " + png + " --output " + mask);
  ASSERT_EQ(r.code, 0) << r.output;
  auto m = read_image(mask, 1);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->shape(), (Shape{1, 1, 64, 64}));
}

TEST(Cli, RunTilesAnNpyInTheModelsLayout) {
  // --tile with a .npy input: the tile's height and width are axes 2 and 3 of an ONNX model's
  // NCHW input, and the result is the library's tiled inference.
  const std::string in = fx("unet/w4_64x64/input.npy"), out = ::testing::TempDir() + "/kiln_cli_tiled.npy";
  Result r = run_cli("run " + fx("unet/w4_64x64/model.onnx") + " --input " + in + " --tile 32 --overlap 16 --output " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("tiles      32x32, overlap 16"), std::string::npos) << r.output;
  ModelOptions opt;
  opt.input_shapes[""] = {1, 1, 32, 32};
  auto m = Model::load(fx("unet/w4_64x64/model.onnx"), opt);
  auto x = read_npy(in);
  auto got = read_npy(out);
  ASSERT_TRUE(m && x && got);
  auto want = m->run_tiled(*x, TileOptions{16});
  ASSERT_TRUE(want) << want.error().message();
  EXPECT_EQ(testing::max_abs_diff(*got, (*want)[0]), 0.0);
}

TEST(Cli, InspectShowsOpsAndFingerprint) {
  Result r = run_cli("inspect " + fx("unet/w4_64x64/model.onnx"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Conv x24"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("fingerprint"), std::string::npos);
  EXPECT_NE(r.output.find("121725"), std::string::npos);  // parameter count of the width-4 U-Net
}

TEST(Cli, BenchPrintsJson) {
  Result r = run_cli("bench " + fx("errors/tiny_conv.onnx") + " --runs 3 --json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"steady_median_ms\""), std::string::npos) << r.output;
}

TEST(Cli, BadFilesExitNonZeroWithAMessage) {
  for (const char* f : {"errors/truncated.onnx", "errors/not_a_model.onnx", "errors/unsupported_op.onnx"}) {
    Result r = run_cli("run " + fx(f) + " --input " + fx("errors/tiny_conv_input.npy"));
    EXPECT_EQ(r.code, 1) << f << ": " << r.output;
    EXPECT_NE(r.output.find("kiln: "), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("terminate"), std::string::npos) << r.output;
  }
}

TEST(Cli, WrongInputShapeExitsNonZero) {
  Result r = run_cli("run " + fx("errors/tiny_conv.onnx") + " --input " + fx("unet/w4_64x64/input.npy"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("channels"), std::string::npos) << r.output;
}

TEST(Cli, UnknownSubcommandIsAUsageError) {
  Result r = run_cli("frobnicate");
  EXPECT_EQ(r.code, 2) << r.output;  // a crash reads as -1, CLI11's own codes as 100+
  EXPECT_NE(r.output.find("unknown command 'frobnicate'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("run"), std::string::npos) << r.output;  // and says what the commands are
}

TEST(Cli, BadOptionIsAUsageError) {
  Result r = run_cli("run --no-such-option x.onnx --input y.npy");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--no-such-option"), std::string::npos) << r.output;
  EXPECT_EQ(run_cli("--help").code, 0);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(Cli, InspectListsTensorFlowNames) {
  std::string pb = testing::source_path("../shared/fixtures/tf/keras_relu6/keras_relu6_net.pb");
  if (!std::ifstream(pb)) GTEST_SKIP() << pb << " is absent (../shared/fixtures not beside the repository)";
  auto in = read_npy(testing::source_path("../shared/fixtures/tf/keras_relu6/keras_relu6_in.npy"));
  ASSERT_TRUE(in);
  const Shape& s = in->shape();  // stored NCHW; the graph takes NHWC
  std::string shape = std::to_string(s[0]) + "," + std::to_string(s[2]) + "," + std::to_string(s[3]) + "," + std::to_string(s[1]);
  Result r = run_cli("inspect " + pb + " --input-shape " + shape + " --tensors");
  ASSERT_EQ(r.code, 0) << r.output;
  // Every computed tensor, by its scoped TensorFlow name, with its NHWC shape: the names
  // `run --output-name` takes (one of the file's own, not the kiln-made node names).
  const size_t listed = r.output.find("tensors");
  ASSERT_NE(listed, std::string::npos) << r.output;
  const std::string want = "keras_relu6/clip_by_value/Minimum";
  const size_t at = r.output.find("\n  " + want + " ", listed);
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string line = r.output.substr(at + 1, r.output.find('\n', at + 1) - at - 1);
  EXPECT_NE(line.find("[" + shape + "]"), std::string::npos) << line;
  // And run takes that name.
  std::string npy = ::testing::TempDir() + "/kiln_relu6_in.npy";
  Tensor nchw[] = {*in};
  auto nhwc = reference::transpose(TransposeAttrs{{0, 2, 3, 1}}, nchw);
  ASSERT_TRUE(nhwc && write_npy(npy, *nhwc));
  Result run = run_cli("run " + pb + " --input " + npy + " --output-name " + want);
  EXPECT_EQ(run.code, 0) << run.output;
  EXPECT_NE(run.output.find("output     " + want + " [" + shape + "]"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace kiln
