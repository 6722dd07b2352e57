// The ONNX importer on real files: initializer storage forms, opsets, shape folding,
// and errors that name what is wrong.
#include <gtest/gtest.h>

#include <filesystem>

#include "import/import.h"
#include "kiln/model.h"
#include "optimize/optimize.h"
#include "test_util.h"

namespace kiln {
namespace {

std::string fx(const std::string& rel) { return testing::source_path("tests/fixtures/" + rel); }

void expect_tiny_conv_output(const std::string& model_path) {
  auto x = read_npy(fx("errors/tiny_conv_input.npy"));
  auto y = read_npy(fx("errors/tiny_conv_expected.npy"));
  ASSERT_TRUE(x && y);
  auto m = Model::load(model_path);
  ASSERT_TRUE(m) << m.error().message();
  auto out = m->run({*x});
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_LE(testing::max_abs_diff((*out)[0], *y), 1e-5);
}

TEST(OnnxImport, InitializersInRawData) { expect_tiny_conv_output(fx("errors/tiny_conv.onnx")); }
TEST(OnnxImport, InitializersInTypedFields) { expect_tiny_conv_output(fx("import/tiny_conv_typed.onnx")); }
TEST(OnnxImport, InitializersInExternalDataFile) { expect_tiny_conv_output(fx("import/tiny_conv_external.onnx")); }

TEST(OnnxImport, ExternalDataFileMissingIsNamed) {
  std::string dir = ::testing::TempDir() + "/kiln_ext";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(fx("import/tiny_conv_external.onnx"), dir + "/m.onnx",
                             std::filesystem::copy_options::overwrite_existing);
  auto m = Model::load(dir + "/m.onnx");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("tiny_conv_external.bin"), std::string::npos) << m.error().message();
}

// PyTorch's export computes the 2x2 up-convolutions' pads through ConstantOfShape, Concat,
// Reshape, Slice (step -1), Transpose and Cast; all of it must fold to constants.
TEST(OnnxImport, ShapeArithmeticFoldsToConstants) {
  auto m = import_onnx(fx("unet/w4_64x64/model.onnx"), {});
  ASSERT_TRUE(m) << m.error().message();
  std::map<std::string, int> ops;
  for (const Node& n : m->graph.nodes) ++ops[n.source_op];
  EXPECT_EQ(ops.size(), 7u);  // Conv, Relu, MaxPool, Resize, Pad, Concat, Sigmoid
  EXPECT_EQ(ops["Pad"], 4);
  for (const Node& n : m->graph.nodes)
    if (auto* p = std::get_if<PadAttrs>(&n.attrs)) {
      EXPECT_EQ(p->begin, (std::vector<int64_t>{0, 0, 0, 0}));
      EXPECT_EQ(p->end, (std::vector<int64_t>{0, 0, 1, 1}));
    }
}

void check_unet(const std::string& dir) {
  auto x = read_npy(fx(dir + "/input.npy"));
  auto y = read_npy(fx(dir + "/expected.npy"));
  ASSERT_TRUE(x && y);
  auto m = Model::load(fx(dir + "/model.onnx"));
  ASSERT_TRUE(m) << m.error().message();
  auto out = m->run({*x});
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_LE(testing::max_abs_diff((*out)[0], *y), 1e-4);
}

TEST(OnnxImport, Opset9UpsampleBatch2) { check_unet("unet/w4_32x48_b2_opset9"); }
TEST(OnnxImport, Opset17) { check_unet("unet/w4_32x32_opset17"); }

TEST(OnnxImport, InputShapeOverrideRecompilesForAnotherSize) {
  // The U-Net is fully convolutional: kiln specialises it for any size divisible by 16.
  ImportOptions opt;
  opt.input_shapes[""] = {1, 1, 48, 80};
  auto m = import_onnx(fx("unet/w4_64x64/model.onnx"), opt);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->graph.values[m->graph.outputs[0]].shape, (Shape{1, 1, 48, 80}));
}

TEST(OnnxImport, FingerprintIgnoresWeightValues) {
  auto a = import_onnx(fx("errors/tiny_conv.onnx"), {});
  auto b = import_onnx(fx("import/tiny_conv_typed.onnx"), {});
  ASSERT_TRUE(a && b);
  optimize(a->graph);
  optimize(b->graph);
  EXPECT_EQ(fingerprint(a->graph), fingerprint(b->graph));
}

}  // namespace
}  // namespace kiln
