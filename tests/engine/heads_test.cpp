// Multi-class segmentation and classification heads exported by PyTorch (tools/make_heads.py):
// Softmax and ArgMax over channels, global pooling + Flatten + Gemm + LogSoftmax, against
// PyTorch's outputs; and the class map as a palette PNG, read back by stb's decoder.
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "kiln/io.h"
#include "kiln/model.h"
#include "test_util.h"

namespace kiln {
namespace {

std::string fx(const std::string& rel) { return testing::source_path("tests/fixtures/heads/" + rel); }

Tensor npy(const std::string& rel) {
  auto t = read_npy(fx(rel));
  EXPECT_TRUE(t) << rel;
  return t ? *t : Tensor();
}

Tensor run(const std::string& model, ModelInfo* info = nullptr) {
  auto m = Model::load(fx(model));
  EXPECT_TRUE(m) << m.error().message();
  if (!m) return Tensor();
  if (info) *info = m->info();
  auto out = m->run({npy("input.npy")});
  EXPECT_TRUE(out) << out.error().message();
  return out ? (*out)[0] : Tensor();
}

TEST(Heads, SoftmaxArgMaxAndClassifierMatchPyTorch) {
  ModelInfo info;
  const Tensor probs = run("seg_softmax.onnx", &info);
  EXPECT_FALSE(info.outputs[0].class_map);
  EXPECT_LE(testing::max_abs_diff(probs, npy("expected_seg_softmax.npy")), 1e-5);
  const Tensor classes = run("seg_argmax.onnx", &info);
  EXPECT_TRUE(info.outputs[0].class_map);
  ASSERT_EQ(classes.shape(), (Shape{1, 1, 32, 48}));
  EXPECT_EQ(testing::max_abs_diff(classes, npy("expected_seg_argmax.npy")), 0.0);  // the same class everywhere
  const Tensor logp = run("classify.onnx");
  ASSERT_EQ(logp.shape(), (Shape{1, 5}));
  EXPECT_LE(testing::max_abs_diff(logp, npy("expected_classify.npy")), 1e-5);
}

// The class PNG decoded by stb (an independent decoder): every pixel has its class's colour,
// from the class indices and from the scores alike.
TEST(Heads, ClassMapsArePalettePngsOfEachPixelsClass) {
  const Tensor want = npy("expected_seg_argmax.npy");
  const std::string dir = ::testing::TempDir();
  ASSERT_TRUE(write_class_png(dir + "/kiln_classes_idx.png", run("seg_argmax.onnx"), ClassSource::kIndices));
  ASSERT_TRUE(write_class_png(dir + "/kiln_classes_scores.png", run("seg_softmax.onnx"), ClassSource::kScores));
  for (const char* f : {"/kiln_classes_idx.png", "/kiln_classes_scores.png"}) {
    SCOPED_TRACE(f);
    auto rgb = read_image(dir + f, 3);
    ASSERT_TRUE(rgb) << rgb.error().message();
    ASSERT_EQ(rgb->shape(), (Shape{1, 3, 32, 48}));
    int wrong = 0;
    for (int64_t i = 0; i < 32 * 48; ++i) {
      const auto c = class_colour(static_cast<int>(want.data<float>()[i]));
      for (int ch = 0; ch < 3; ++ch)
        wrong += std::lround(rgb->data<float>()[ch * 32 * 48 + i] * 255.0f) != c[ch];
    }
    EXPECT_EQ(wrong, 0);
  }
  // The palette's first colours as PASCAL VOC has them.
  EXPECT_EQ(class_colour(0), (std::array<uint8_t, 3>{0, 0, 0}));
  EXPECT_EQ(class_colour(1), (std::array<uint8_t, 3>{128, 0, 0}));
  EXPECT_EQ(class_colour(2), (std::array<uint8_t, 3>{0, 128, 0}));
  EXPECT_EQ(class_colour(3), (std::array<uint8_t, 3>{128, 128, 0}));
  EXPECT_EQ(class_colour(9), (std::array<uint8_t, 3>{192, 0, 0}));
  // Not classes: refused with the reason.
  auto bad = encode_class_png(Tensor::from_floats({1, 1, 2, 2}, {0.0f, 1.5f, 2.0f, 3.0f}), ClassSource::kIndices);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("class indices 0 to 255"), std::string::npos) << bad.error().message();
  EXPECT_FALSE(encode_class_png(Tensor::from_floats({1, 1, 2, 2}, {0, 1, 2, 3}), ClassSource::kScores));  // one channel
}

}  // namespace
}  // namespace kiln
