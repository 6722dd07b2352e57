// The real Keras model in ../shared/fixtures/keras (a defect-segmentation FCN written by
// tf.keras 2.3): loaded as a full model, with the weights-only file swapped in, with other
// weights checked against an independent reference, and broken files refused cleanly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>

#include "import/import.h"
#include "core/status_macros.h"
#include "import/keras/keras_file.h"
#include "import/keras/keras_test_util.h"
#include "kiln/io.h"
#include "kiln/model.h"
#include "ops/differential.h"

namespace kiln {
namespace {

using namespace kerastest;

std::string full_model() { return fixtures() + "/fullModel.h5"; }
std::string pretrained() { return fixtures() + "/pretrained.h5"; }

Tensor image(const Shape& nhwc, uint32_t seed) {
  testing::Rand rnd(seed);
  return rnd.tensor(nhwc, 0.0f, 1.0f);
}

// The file's weights as (dataset name, tensor) in file order, optionally changed.
std::vector<LayerWeights> file_weights(const std::string& path, float scale = 1.0f, uint32_t seed = 0) {
  auto f = keras_import::read_keras_file(path);
  EXPECT_TRUE(f) << f.error().message();
  std::vector<LayerWeights> out;
  if (!f) return out;
  testing::Rand rnd(seed);
  for (const auto& l : f->layers) {
    LayerWeights lw{l.layer, {}};
    for (size_t i = 0; i < l.names.size(); ++i) {
      Tensor t = l.values[i].clone();
      if (scale != 1.0f)
        for (int64_t k = 0; k < t.elements(); ++k) t.data<float>()[k] = t.data<float>()[k] * scale + rnd.uniform(-0.05f, 0.05f);
      lw.weights.emplace_back(l.names[i], t);
    }
    out.push_back(std::move(lw));
  }
  return out;
}

// Keras layout -> kiln layout, written here from TensorFlow's documented layouts rather than
// taken from the importer: kernels are HWIO, depthwise kernels HWCM.
Tensor to_kiln(const std::string& name, const Tensor& t) {
  if (t.shape().size() != 4) return t;
  if (name.find("depthwise_kernel") != std::string::npos) {
    const Shape& s = t.shape();
    return permute4(t, {2, 3, 0, 1}).reshaped({s[2] * s[3], 1, s[0], s[1]});
  }
  return permute4(t, {3, 2, 0, 1});
}

TEST(KerasFixture, FullModelLoadsAndRunsAtItsShape) {
  REQUIRE_KERAS_FIXTURES();
  auto m = Model::load(full_model());
  ASSERT_TRUE(m) << m.error().message();
  const ModelInfo& info = m->info();
  ASSERT_EQ(info.inputs.size(), 1u);
  EXPECT_EQ(info.inputs[0].name, "input_1");
  EXPECT_EQ(info.inputs[0].shape, (Shape{1, 512, 512, 1}));
  ASSERT_EQ(info.outputs.size(), 1u);
  EXPECT_EQ(info.outputs[0].name, "activation_2");
  EXPECT_EQ(info.outputs[0].shape, (Shape{1, 512, 512, 2}));
  EXPECT_NE(info.producer.find("2.3.0-tf"), std::string::npos) << info.producer;
  EXPECT_EQ(info.source_ops.at("Conv2D"), 8);
  EXPECT_EQ(info.source_ops.at("SeparableConv2D"), 2);
  auto out = m->run({image({1, 512, 512, 1}, 1)});
  ASSERT_TRUE(out) << out.error().message();
  const Tensor& y = (*out)[0];
  // A softmax over the two classes (the last, NHWC axis).
  double worst = 0;
  for (int64_t p = 0; p < y.elements() / 2; ++p)
    worst = std::max(worst, std::fabs(static_cast<double>(y.data<float>()[2 * p] + y.data<float>()[2 * p + 1]) - 1.0));
  EXPECT_LT(worst, 1e-5);
}

TEST(KerasFixture, FullyConvolutionalAtOtherShapes) {
  REQUIRE_KERAS_FIXTURES();
  for (Shape s : {Shape{1, 128, 128, 1}, Shape{2, 96, 64, 1}}) {
    ModelOptions opt;
    opt.input_shapes[""] = s;
    auto m = Model::load(full_model(), opt);
    ASSERT_TRUE(m) << shape_to_string(s) << ": " << m.error().message();
    EXPECT_EQ(m->info().outputs[0].shape, (Shape{s[0], s[1], s[2], 2}));
  }
  // 100 is no multiple of the network's stride 16: its skip connections cannot add up.
  ModelOptions opt;
  opt.input_shapes["input_1"] = {1, 100, 100, 1};
  auto m = Model::load(full_model(), opt);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("layer 'add"), std::string::npos) << m.error().message();
}

// The importer's graph, its weights re-laid out by this test, run on the reference kernels.
Expected<Tensor> reference_output(const std::vector<LayerWeights>& weights, const Tensor& nhwc) {
  ImportOptions io;
  io.input_shapes[""] = nhwc.shape();
  KILN_ASSIGN_OR_RETURN(ImportedModel m, import_model(full_model(), io));
  std::map<int, Tensor> known;
  known[m.graph.inputs[0]] = nhwc;
  for (const auto& l : weights)
    for (const auto& [name, t] : l.weights) {
      auto v = m.graph.find_value(name);
      if (!v) return not_found("the graph has no weight '" + name + "'");
      known[*v] = to_kiln(name, t);
    }
  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> out, testing::run_reference(m.graph, known));
  return out[0];
}

TEST(KerasFixture, MatchesTheReferenceKernels) {
  REQUIRE_KERAS_FIXTURES();
  Tensor x = image({1, 128, 128, 1}, 2);
  ModelOptions opt;
  opt.input_shapes[""] = x.shape();
  auto m = Model::load(full_model(), opt);
  ASSERT_TRUE(m) << m.error().message();
  auto got = m->run({x});
  ASSERT_TRUE(got) << got.error().message();
  auto want = reference_output(file_weights(full_model()), x);
  ASSERT_TRUE(want) << want.error().message();
  testing::expect_close((*got)[0], *want, 1e-4, "fullModel.h5");
}

TEST(KerasFixture, PretrainedWeightsSwapIntoTheFullModel) {
  REQUIRE_KERAS_FIXTURES();
  // pretrained.h5 (save_weights) holds exactly fullModel.h5's weights; the swap must give
  // identical outputs through the same plan.
  std::vector<LayerWeights> a = file_weights(full_model()), b = file_weights(pretrained());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t k = 0; k < a[i].weights.size(); ++k)
      ASSERT_EQ(testing::max_abs_diff(a[i].weights[k].second, b[i].weights[k].second), 0.0) << a[i].weights[k].first;
  Tensor x = image({1, 512, 512, 1}, 3);
  auto own = Model::load(full_model());
  ModelOptions opt;
  opt.weights = pretrained();
  auto swapped = Model::load(full_model(), opt);
  ASSERT_TRUE(own) << own.error().message();
  ASSERT_TRUE(swapped) << swapped.error().message();
  EXPECT_EQ(own->info().fingerprint, swapped->info().fingerprint);
  auto y1 = own->run({x});
  auto y2 = swapped->run({x});
  ASSERT_TRUE(y1 && y2);
  EXPECT_EQ(testing::max_abs_diff((*y1)[0], (*y2)[0]), 0.0);
}

TEST(KerasFixture, OtherWeightsSwappedInMatchAnIndependentReference) {
  REQUIRE_KERAS_FIXTURES();
  std::vector<LayerWeights> w = file_weights(pretrained(), 0.7f, 11);
  std::string path = temp_path("perturbed_weights.h5");
  write_keras_h5(path, "", w);
  Tensor x = image({1, 64, 64, 1}, 4);
  ModelOptions opt;
  opt.input_shapes[""] = x.shape();
  auto own = Model::load(full_model(), opt);
  opt.weights = path;
  auto swapped = Model::load(full_model(), opt);
  ASSERT_TRUE(own) << own.error().message();
  ASSERT_TRUE(swapped) << swapped.error().message();
  auto y_own = own->run({x});
  auto y = swapped->run({x});
  ASSERT_TRUE(y && y_own);
  auto want = reference_output(w, x);
  ASSERT_TRUE(want) << want.error().message();
  testing::expect_close((*y)[0], *want, 1e-4, "perturbed weights");
  EXPECT_GT(testing::max_abs_diff((*y)[0], (*y_own)[0]), 1e-3);  // the swap did change the weights
}

TEST(KerasFixture, WeightsOnlyFileIsNotAModel) {
  REQUIRE_KERAS_FIXTURES();
  auto m = import_model(pretrained(), {});
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(m.error().message().find("only weights"), std::string::npos) << m.error().message();
  EXPECT_NE(m.error().message().find("--weights"), std::string::npos) << m.error().message();
}

TEST(KerasFixture, MismatchedWeightFilesNameTheFirstMismatch) {
  REQUIRE_KERAS_FIXTURES();
  struct Case {
    std::string what, expect;
    std::function<void(std::vector<LayerWeights>&)> edit;
  };
  std::vector<Case> cases = {
      {"missing", "'fc7/bias:0'", [](auto& w) { w.back().weights.pop_back(); }},
      {"misshaped", "'fc7/kernel:0'", [](auto& w) { w.back().weights[0].second = Tensor::zeros(DType::kF32, {3, 3, 48, 3}); }},
      {"extra", "'extra/kernel:0'", [](auto& w) {
         w.push_back({"extra", {{"extra/kernel:0", Tensor::zeros(DType::kF32, {1, 1, 2, 2})}}});
       }},
  };
  for (const Case& c : cases) {
    std::vector<LayerWeights> w = file_weights(pretrained());
    // fc7 moved to the end, so its tensors are the last ones checked.
    auto fc7 = std::find_if(w.begin(), w.end(), [](const LayerWeights& l) { return l.layer == "fc7"; });
    ASSERT_NE(fc7, w.end());
    std::rotate(fc7, fc7 + 1, w.end());
    c.edit(w);
    std::string path = temp_path(c.what + ".h5");
    write_keras_h5(path, "", w);
    ModelOptions opt;
    opt.weights = path;
    auto m = Model::load(full_model(), opt);
    ASSERT_FALSE(m) << c.what;
    EXPECT_NE(m.error().message().find(c.expect), std::string::npos) << c.what << ": " << m.error().message();
    EXPECT_NE(m.error().message().find(path), std::string::npos) << c.what << ": " << m.error().message();
  }
}

TEST(KerasFixture, MissingTruncatedAndCorruptFilesFailCleanly) {
  REQUIRE_KERAS_FIXTURES();
  auto missing = import_model(temp_path("no_such_model.h5"), {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

  std::string text = temp_path("text.h5");
  std::ofstream(text) << "this is not an HDF5 file";
  auto not_h5 = import_model(text, {});
  ASSERT_FALSE(not_h5);
  EXPECT_NE(not_h5.error().message().find("not an HDF5 file"), std::string::npos) << not_h5.error().message();

  std::string bytes = tftest::read_bytes(full_model());
  std::string path = temp_path("truncated.h5");
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() * 3 / 4));
  auto cut = import_model(path, {});
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code(), ErrorCode::kInvalidModel) << cut.error().message();
  EXPECT_NE(cut.error().message().find("truncated.h5"), std::string::npos) << cut.error().message();
  // As a weight file too.
  ModelOptions opt;
  opt.weights = path;
  auto swapped = Model::load(full_model(), opt);
  ASSERT_FALSE(swapped);
  EXPECT_NE(swapped.error().message().find("truncated.h5"), std::string::npos) << swapped.error().message();

  // Every prefix, and bytes overwritten anywhere: an error or a model, never a crash.
  for (size_t len = 0; len < bytes.size(); len += 3001) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(len));
    (void)import_model(path, {});
  }
  for (size_t at = 0; at + 64 < bytes.size(); at += 2039) {
    std::string broken = bytes;
    for (size_t k = 0; k < 64; ++k) broken[at + k] = static_cast<char>(0xA5 ^ k);
    std::ofstream(path, std::ios::binary).write(broken.data(), static_cast<std::streamsize>(broken.size()));
    ImportOptions io;
    io.input_shapes[""] = {1, 32, 32, 1};
    (void)import_model(path, io);
  }
}

}  // namespace
}  // namespace kiln
