// The Keras layers of classification heads and reshaping segmentation outputs: PReLU (with and
// without shared axes), Flatten, Dense (on flat tensors and on images) and Reshape, in a .h5
// written by the test, against the network computed here in plain loops over NHWC arrays, as
// Keras defines the layers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "import/keras/keras_test_util.h"
#include "kiln/model.h"
#include "ops/differential.h"

namespace kiln {
namespace {

using namespace kerastest;

constexpr int64_t kB = 2, kS = 4, kC = 3, kFlat = kS * kS * kC;

std::vector<std::pair<std::string, Tensor>> weights() {
  testing::Rand r(17);
  return {{"pr/alpha:0", r.tensor({1, 1, kC}, 0.1f, 0.4f)},
          {"d1/kernel:0", r.tensor({kFlat, 5}, -0.3f, 0.3f)}, {"d1/bias:0", r.tensor({5}, -0.2f, 0.2f)},
          {"d2/kernel:0", r.tensor({kFlat, 32}, -0.3f, 0.3f)}, {"d2/bias:0", r.tensor({32}, -0.2f, 0.2f)},
          {"pr2/alpha:0", r.tensor({kS, kS, 2}, 0.1f, 0.4f)}};
}

std::string config() {
  ConfigBuilder c;
  c.input("input_1", {kS, kS, kC});
  c.layer("PReLU", "pr", {{"shared_axes", {1, 2}}}, {"input_1"});
  c.layer("Flatten", "fl", {{"data_format", "channels_last"}}, {"pr"});
  c.layer("Dense", "d1", {{"units", 5}, {"activation", "relu"}, {"use_bias", true}}, {"fl"});
  c.layer("Dense", "d2", {{"units", 32}, {"activation", "linear"}, {"use_bias", true}}, {"fl"});
  c.layer("Reshape", "rs", {{"target_shape", {kS, kS, -1}}}, {"d2"});
  c.layer("PReLU", "pr2", {{"shared_axes", nullptr}}, {"rs"});
  c.output("d1");
  c.output("pr2");
  return c.dump();
}

TEST(KerasHead, PReluFlattenDenseAndReshapeMatchKerasSemantics) {
  const auto w = weights();
  auto get = [&](const std::string& n) {
    return std::find_if(w.begin(), w.end(), [&](const auto& p) { return p.first == n; })->second.to_f32();
  };
  const std::string path = temp_path("head.h5");
  write_keras_h5(path, config(), group_by_layer(w, {"input_1", "pr", "fl", "d1", "d2", "rs", "pr2"}), false, "2.3.0-tf");
  ModelOptions opt;
  opt.input_shapes["input_1"] = {kB, kS, kS, kC};
  auto m = Model::load(path, opt);
  ASSERT_TRUE(m) << m.error().message();
  testing::Rand r(3);
  const Tensor x = r.tensor({kB, kS, kS, kC}, -1.0f, 1.0f);
  auto got = m->run({x});
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ(got->size(), 2u);
  ASSERT_EQ((*got)[0].shape(), (Shape{kB, 5}));
  ASSERT_EQ((*got)[1].shape(), (Shape{kB, kS, kS, 2}));

  // Keras, in loops: NHWC throughout; Flatten reads channels last.
  const std::vector<float> xv = x.to_f32(), a1 = get("pr/alpha:0"), k1 = get("d1/kernel:0"), b1 = get("d1/bias:0"),
                           k2 = get("d2/kernel:0"), b2 = get("d2/bias:0"), a2 = get("pr2/alpha:0");
  const std::vector<float> d1 = (*got)[0].to_f32(), pr2 = (*got)[1].to_f32();
  for (int64_t n = 0; n < kB; ++n) {
    std::vector<double> flat(kFlat);
    for (int64_t i = 0; i < kFlat; ++i) {
      const double v = xv[static_cast<size_t>(n * kFlat + i)];
      flat[static_cast<size_t>(i)] = v >= 0 ? v : a1[static_cast<size_t>(i % kC)] * v;
    }
    for (int64_t u = 0; u < 5; ++u) {
      double s = b1[static_cast<size_t>(u)];
      for (int64_t i = 0; i < kFlat; ++i) s += flat[static_cast<size_t>(i)] * k1[static_cast<size_t>(i * 5 + u)];
      EXPECT_NEAR(d1[static_cast<size_t>(n * 5 + u)], std::max(s, 0.0), 1e-5) << "d1 " << n << "," << u;
    }
    for (int64_t u = 0; u < 32; ++u) {  // Reshape keeps the order: u = (h * 4 + w) * 2 + c
      double s = b2[static_cast<size_t>(u)];
      for (int64_t i = 0; i < kFlat; ++i) s += flat[static_cast<size_t>(i)] * k2[static_cast<size_t>(i * 32 + u)];
      const double want = s >= 0 ? s : a2[static_cast<size_t>(u)] * s;
      EXPECT_NEAR(pr2[static_cast<size_t>(n * 32 + u)], want, 1e-5) << "pr2 " << n << "," << u;
    }
  }
}

// Dense on an image applies its kernel to each pixel's channels (Keras's last axis).
TEST(KerasHead, DenseOnAnImageActsOnEachPixelsChannels) {
  ConfigBuilder c;
  c.input("input_1", {kS, kS, kC});
  c.layer("Dense", "d", {{"units", 2}, {"activation", "sigmoid"}, {"use_bias", true}}, {"input_1"});
  c.output("d");
  testing::Rand r(1);
  const Tensor kernel = r.tensor({kC, 2}, -0.5f, 0.5f), bias = r.tensor({2}, -0.2f, 0.2f);
  const std::string path = temp_path("dense_image.h5");
  write_keras_h5(path, c.dump(), group_by_layer({{"d/kernel:0", kernel}, {"d/bias:0", bias}}, {"input_1", "d"}), false,
                 "2.3.0-tf");
  ModelOptions opt;
  opt.input_shapes["input_1"] = {kB, kS, kS, kC};
  auto m = Model::load(path, opt);
  ASSERT_TRUE(m) << m.error().message();
  const Tensor x = r.tensor({kB, kS, kS, kC}, -1.0f, 1.0f);
  auto got = m->run({x});
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ((*got)[0].shape(), (Shape{kB, kS, kS, 2}));
  const std::vector<float> xv = x.to_f32(), k = kernel.to_f32(), b = bias.to_f32(), y = (*got)[0].to_f32();
  for (int64_t p = 0; p < kB * kS * kS; ++p)
    for (int64_t u = 0; u < 2; ++u) {
      double s = b[static_cast<size_t>(u)];
      for (int64_t ch = 0; ch < kC; ++ch)
        s += xv[static_cast<size_t>(p * kC + ch)] * k[static_cast<size_t>(ch * 2 + u)];
      EXPECT_NEAR(y[static_cast<size_t>(p * 2 + u)], 1.0 / (1.0 + std::exp(-s)), 1e-5) << "pixel " << p << " unit " << u;
    }
}

TEST(KerasHead, DenseOnASequenceIsRefusedNamingTheLayer) {
  ConfigBuilder c;
  c.input("input_1", {kS, kS, kC});
  c.layer("Reshape", "rs", {{"target_shape", {kS * kS, kC}}}, {"input_1"});
  c.layer("Dense", "d", {{"units", 2}, {"activation", "linear"}, {"use_bias", false}}, {"rs"});
  c.output("d");
  testing::Rand r(1);
  const std::string path = temp_path("dense_sequence.h5");
  write_keras_h5(path, c.dump(), group_by_layer({{"d/kernel:0", r.tensor({kC, 2})}}, {"input_1", "rs", "d"}), false,
                 "2.3.0-tf");
  ModelOptions opt;
  opt.input_shapes["input_1"] = {1, kS, kS, kC};
  auto m = Model::load(path, opt);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("layer 'd' (Dense)"), std::string::npos) << m.error().message();
  EXPECT_NE(m.error().message().find("rank 3"), std::string::npos) << m.error().message();
}

}  // namespace
}  // namespace kiln
