// Bad input gets a clear error naming the problem, never a crash.
#include <gtest/gtest.h>

#include <fstream>

#include "kiln/model.h"
#include "test_util.h"

namespace kiln {
namespace {

std::string fixture(const std::string& name) { return testing::source_path("tests/fixtures/errors/" + name); }

TEST(Errors, TruncatedFileIsAnInvalidModel) {
  auto m = Model::load(fixture("truncated.onnx"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kInvalidModel);
  EXPECT_NE(m.error().message().find("truncated"), std::string::npos) << m.error().message();
  EXPECT_NE(m.error().message().find("truncated.onnx"), std::string::npos);
}

TEST(Errors, TextFileIsNotAModel) {
  auto m = Model::load(fixture("not_a_model.onnx"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kInvalidModel);
  EXPECT_NE(m.error().message().find("not a valid ONNX model"), std::string::npos) << m.error().message();
}

TEST(Errors, MissingFileIsNotFound) {
  auto m = Model::load(fixture("no_such_file.onnx"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kNotFound);
}

TEST(Errors, UnsupportedOpNamesNodeAndOp) {
  auto m = Model::load(fixture("unsupported_op.onnx"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(m.error().message().find("'my_einsum'"), std::string::npos) << m.error().message();
  EXPECT_NE(m.error().message().find("Einsum"), std::string::npos);
}

TEST(Errors, EveryPrefixOfAValidModelFailsCleanly) {
  // Truncate a real model at many points: each must load or fail with a Status, never crash.
  std::ifstream f(fixture("tiny_conv.onnx"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 100u);
  std::string path = ::testing::TempDir() + "/kiln_prefix.onnx";
  int failures = 0;
  for (size_t len = 0; len < bytes.size(); len += 37) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(len));
    auto m = Model::load(path);
    failures += !m;
  }
  EXPECT_GT(failures, 0);
}

class LoadedTinyConv : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = Model::load(fixture("tiny_conv.onnx"));
    ASSERT_TRUE(m) << m.error().message();
    model_ = std::make_unique<Model>(std::move(*m));
  }
  std::unique_ptr<Model> model_;
};

TEST_F(LoadedTinyConv, MatchesPyTorch) {
  auto x = read_npy(fixture("tiny_conv_input.npy"));
  auto y = read_npy(fixture("tiny_conv_expected.npy"));
  ASSERT_TRUE(x && y);
  auto out = model_->run({*x});
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_LE(testing::max_abs_diff((*out)[0], *y), 1e-5);
}

TEST_F(LoadedTinyConv, InputTheNetworkCannotTakeIsRefusedAndModelStillWorks) {
  // Another height and width is fine (a plan is compiled for it: see tiling_test.cpp);
  // another channel count is not.
  auto other_size = model_->run({Tensor::zeros(DType::kF32, {1, 3, 9, 8})});
  ASSERT_TRUE(other_size) << other_size.error().message();
  auto out = model_->run({Tensor::zeros(DType::kF32, {1, 4, 8, 8})});
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message().find("[1,4,8,8]"), std::string::npos) << out.error().message();
  EXPECT_NE(out.error().message().find("channels"), std::string::npos) << out.error().message();
  auto ok = model_->run({Tensor::zeros(DType::kF32, {1, 3, 8, 8})});
  EXPECT_TRUE(ok);
}

TEST_F(LoadedTinyConv, WrongDtypeIsRefused) {
  auto out = model_->run({Tensor::zeros(DType::kI64, {1, 3, 8, 8})});
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message().find("float32"), std::string::npos) << out.error().message();
}

TEST_F(LoadedTinyConv, WrongInputCountIsRefused) {
  auto out = model_->run({});
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message().find("1 input"), std::string::npos) << out.error().message();
}

TEST(Errors, ImpossibleInputShapeOverrideIsRefusedAtLoad) {
  ModelOptions opt;
  opt.input_shapes["x"] = {1, 5, 8, 8};  // the conv wants 3 channels
  auto m = Model::load(fixture("tiny_conv.onnx"), opt);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("input channels"), std::string::npos) << m.error().message();
}

}  // namespace
}  // namespace kiln
