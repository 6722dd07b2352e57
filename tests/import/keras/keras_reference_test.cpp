// A small Keras model using every layer kind the importer reads, written as a .h5 in the
// test, against an independent computation: the same network assembled here by hand in
// kiln's NCHW IR, with the weights re-laid out by this test and the paddings worked out by
// hand from TensorFlow's rules, run on the naive reference kernels.
#include <gtest/gtest.h>

#include "import/import.h"
#include "import/keras/keras_test_util.h"
#include "kiln/model.h"
#include "ops/differential.h"

namespace kiln {
namespace {

using namespace kerastest;

constexpr int64_t kBatch = 2, kSize = 8;

// Every weight of the model, by Keras dataset name, in Keras's layout.
std::vector<std::pair<std::string, Tensor>> make_weights(uint32_t seed) {
  testing::Rand r(seed);
  auto w = [&](const Shape& s) { return r.tensor(s, -0.6f, 0.6f); };
  return {
      {"c1/kernel:0", w({3, 3, 3, 4})},        {"c1/bias:0", w({4})},
      {"bn/gamma:0", w({4})},                  {"bn/beta:0", w({4})},
      {"bn/moving_mean:0", w({4})},            {"bn/moving_variance:0", r.tensor({4}, 0.5f, 1.5f)},
      {"bn0/moving_mean:0", w({4})},           {"bn0/moving_variance:0", r.tensor({4}, 0.5f, 1.5f)},
      {"s/depthwise_kernel:0", w({3, 3, 4, 2})}, {"s/pointwise_kernel:0", w({1, 1, 8, 6})},
      {"s/bias:0", w({6})},                    {"dw/depthwise_kernel:0", w({3, 3, 6, 1})},
      {"dw/bias:0", w({6})},                   {"t/kernel:0", w({3, 3, 5, 18})},
      {"t/bias:0", w({5})},                    {"dil/kernel:0", w({3, 3, 9, 4})},
      {"dil/bias:0", w({4})},                  {"tv/kernel:0", w({2, 2, 2, 4})},
      {"tv/bias:0", w({2})},                   {"side/kernel:0", w({1, 1, 4, 2})},
  };
}

const std::vector<std::string> kLayers = {"input_1", "c1", "bn", "bn0", "r", "p", "s", "dw", "u", "ub", "cat",
                                          "t", "drop", "cat2", "zp", "cr", "dil", "ap", "lr", "tv", "side", "add", "out"};

std::string model_config(bool keras3) {
  ConfigBuilder c(keras3);
  c.input("input_1", {kSize, kSize, 3});
  c.layer("Conv2D", "c1", conv_cfg(4, {3, 3}, "same", "relu"), {"input_1"});
  c.layer("BatchNormalization", "bn", {{"axis", keras3 ? json(-1) : json::array({3})}, {"epsilon", 0.001}, {"center", true}, {"scale", true}}, {"c1"});
  c.layer("BatchNormalization", "bn0", {{"axis", -1}, {"epsilon", 0.01}, {"center", false}, {"scale", false}}, {"bn"});
  c.layer("ReLU", "r", {{"max_value", 6.0}, {"negative_slope", 0.0}, {"threshold", 0.0}}, {"bn0"});
  c.layer("MaxPooling2D", "p", {{"pool_size", {2, 2}}, {"padding", "valid"}, {"strides", {2, 2}}, {"data_format", "channels_last"}}, {"r"});
  json s = conv_cfg(6, {3, 3}, "same", "elu");
  s["depth_multiplier"] = 2;
  c.layer("SeparableConv2D", "s", s, {"p"});
  json dw = conv_cfg(0, {3, 3}, "same", "linear", {2, 2});
  dw.erase("filters");
  dw["depth_multiplier"] = 1;
  c.layer("DepthwiseConv2D", "dw", dw, {"s"});
  c.layer("UpSampling2D", "u", {{"size", {2, 2}}, {"data_format", "channels_last"}, {"interpolation", "nearest"}}, {"dw"});
  c.layer("UpSampling2D", "ub", {{"size", 2}, {"data_format", "channels_last"}, {"interpolation", "bilinear"}}, {"dw"});
  c.layer("Concatenate", "cat", {{"axis", -1}}, {"u", "s", "ub"});
  json t = conv_cfg(5, {3, 3}, "same", "relu", {2, 2});
  t["output_padding"] = nullptr;
  c.layer("Conv2DTranspose", "t", t, {"cat"});
  c.layer("Dropout", "drop", {{"rate", 0.5}}, {"t"});
  c.layer("Concatenate", "cat2", {{"axis", 3}}, {"drop", "r"});
  c.layer("ZeroPadding2D", "zp", {{"padding", {{1, 0}, {2, 1}}}, {"data_format", "channels_last"}}, {"cat2"});
  c.layer("Cropping2D", "cr", {{"cropping", {{0, 1}, {1, 2}}}, {"data_format", "channels_last"}}, {"zp"});
  c.layer("Conv2D", "dil", conv_cfg(4, {3, 3}, "same", "sigmoid", {1, 1}, {2, 2}), {"cr"});
  c.layer("AveragePooling2D", "ap", {{"pool_size", {3, 3}}, {"padding", "same"}, {"strides", {2, 2}}, {"data_format", "channels_last"}}, {"dil"});
  c.layer("LeakyReLU", "lr", {{"alpha", 0.1}}, {"ap"});
  c.layer("Conv2DTranspose", "tv", conv_cfg(2, {2, 2}, "valid", "softmax", {2, 2}), {"lr"});
  c.layer("Conv2D", "side", conv_cfg(2, {1, 1}, "valid", "linear", {1, 1}, {1, 1}, false), {"c1"});
  c.layer("Add", "add", json::object(), {"tv", "side"});
  c.layer("Activation", "out", {{"activation", "tanh"}}, {"add"});
  c.output("out");
  c.output("s");
  return c.dump();
}

json with_name(json cfg, const std::string& name) {
  cfg["name"] = name;
  return cfg;
}

// The same network by hand, NCHW. Pads are TensorFlow's SAME worked out for these sizes:
// total = max((ceil(in/s) - 1) * s + (k - 1) * d + 1 - in, 0), the odd one at the end.
struct Reference {
  testing::Rand rnd{1};
  testing::TestGraph t{rnd};
  std::map<std::string, Tensor> w;

  int weight(const std::string& name) { return t.weight(w.at(name)); }
  int hwio(const std::string& name) { return t.weight(permute4(w.at(name), {3, 2, 0, 1})); }
  int depthwise(const std::string& name) {
    const Tensor& k = w.at(name);
    const Shape& s = k.shape();
    return t.weight(permute4(k, {2, 3, 0, 1}).reshaped({s[2] * s[3], 1, s[0], s[1]}));
  }
  int constant(const Shape& s, float v) {
    Tensor c = Tensor::zeros(DType::kF32, s);
    for (int64_t i = 0; i < c.elements(); ++i) c.data<float>()[i] = v;
    return t.weight(c);
  }
  int unary(UnaryKind k, int x, float alpha = 0, float beta = 0) { return t.node(UnaryAttrs{k, alpha, beta}, {x}); }
  static ConvAttrs conv(int64_t k, Spatial pads, int64_t stride = 1, int64_t dil = 1, int64_t group = 1,
                        bool bias = true) {
    ConvAttrs a;
    a.kernel = {k, k};
    a.strides = {stride, stride};
    a.dilations = {dil, dil};
    a.pads = pads;
    a.group = group;
    a.has_bias = bias;
    return a;
  }

  std::vector<Tensor> run(const Tensor& nhwc) {
    int x = t.input(nhwc_to_nchw(nhwc));
    int c1 = unary(UnaryKind::kRelu, t.node(conv(3, {1, 1, 1, 1}), {x, hwio("c1/kernel:0"), weight("c1/bias:0")}));
    int bn = t.node(BatchNormAttrs{0.001f}, {c1, weight("bn/gamma:0"), weight("bn/beta:0"), weight("bn/moving_mean:0"),
                                             weight("bn/moving_variance:0")});
    int bn0 = t.node(BatchNormAttrs{0.01f}, {bn, constant({4}, 1), constant({4}, 0), weight("bn0/moving_mean:0"),
                                              weight("bn0/moving_variance:0")});
    int r = unary(UnaryKind::kClip, bn0, 0.0f, 6.0f);
    PoolAttrs mp;
    mp.kernel = mp.strides = {2, 2};
    int p = t.node(mp, {r});
    int sd = t.node(conv(3, {1, 1, 1, 1}, 1, 1, 4, false), {p, depthwise("s/depthwise_kernel:0")});
    int s = unary(UnaryKind::kElu, t.node(conv(1, {0, 0, 0, 0}), {sd, hwio("s/pointwise_kernel:0"), weight("s/bias:0")}), 1.0f);
    int dw = t.node(conv(3, {0, 0, 1, 1}, 2, 1, 6), {s, depthwise("dw/depthwise_kernel:0"), weight("dw/bias:0")});
    ResizeAttrs nn;
    nn.mode = ResizeMode::kNearest;
    nn.coord = CoordTransform::kAsymmetric;
    nn.nearest = NearestRounding::kFloor;
    nn.out_size = {4, 4};
    nn.scales = {2, 2};
    ResizeAttrs bl = nn;
    bl.mode = ResizeMode::kLinear;
    bl.coord = CoordTransform::kHalfPixel;  // tf.keras 2.3 resizes with tf.image.resize
    int cat = t.node(ConcatAttrs{1}, {t.node(nn, {dw}), s, t.node(bl, {dw})});
    ConvTransposeAttrs ta;
    ta.kernel = {3, 3};
    ta.strides = {2, 2};
    ta.pads = {0, 0, 1, 1};  // forward SAME conv 8 -> 4 pads (0, 1); full size 9 cropped to 8
    ta.has_bias = true;
    int tr = unary(UnaryKind::kRelu, t.node(ta, {cat, hwio("t/kernel:0"), weight("t/bias:0")}));
    int cat2 = t.node(ConcatAttrs{1}, {tr, r});
    PadAttrs pad;
    pad.begin = {0, 0, 1, 2};
    pad.end = {0, 0, 0, 1};
    int zp = t.node(pad, {cat2});  // [2,9,9,11]
    SliceAttrs crop;
    crop.starts = {0, 0, 0, 1};
    crop.ends = {kBatch, 9, 8, 9};
    crop.steps = {1, 1, 1, 1};
    int cr = t.node(crop, {zp});
    int dil = unary(UnaryKind::kSigmoid, t.node(conv(3, {2, 2, 2, 2}, 1, 2), {cr, hwio("dil/kernel:0"), weight("dil/bias:0")}));
    PoolAttrs ap;
    ap.kind = PoolKind::kAverage;
    ap.kernel = {3, 3};
    ap.strides = {2, 2};
    ap.pads = {0, 0, 1, 1};
    ap.count_include_pad = false;
    int lr = unary(UnaryKind::kLeakyRelu, t.node(ap, {dil}), 0.1f);
    ConvTransposeAttrs tv;
    tv.kernel = tv.strides = {2, 2};
    tv.has_bias = true;
    int sm = t.node(SoftmaxAttrs{1}, {t.node(tv, {lr, hwio("tv/kernel:0"), weight("tv/bias:0")})});
    int side = t.node(conv(1, {0, 0, 0, 0}, 1, 1, 1, false), {c1, hwio("side/kernel:0")});
    int out = unary(UnaryKind::kTanh, t.node(BinaryAttrs{BinaryKind::kAdd}, {sm, side}));
    t.output(out);
    t.output(s);
    auto y = testing::run_reference(t.g, t.known);
    EXPECT_TRUE(y) << y.error().message();
    if (!y) return {};
    return {nchw_to_nhwc((*y)[0]), nchw_to_nhwc((*y)[1])};
  }
};

std::vector<Tensor> reference(uint32_t weight_seed, const Tensor& x) {
  Reference r;
  for (auto& [n, t] : make_weights(weight_seed)) r.w[n] = t;
  return r.run(x);
}

std::string write_model(const std::string& file, uint32_t seed, bool keras3 = false) {
  std::string path = temp_path(file);
  write_keras_h5(path, model_config(keras3), group_by_layer(make_weights(seed), kLayers), keras3,
                 keras3 ? "3.1.0" : "2.3.0-tf");
  return path;
}

Tensor input(uint32_t seed) {
  testing::Rand r(seed);
  return r.tensor({kBatch, kSize, kSize, 3});
}

void expect_matches(const std::vector<Tensor>& got, const std::vector<Tensor>& want, const std::string& what) {
  ASSERT_EQ(got.size(), 2u) << what;
  ASSERT_EQ(want.size(), 2u) << what;
  EXPECT_EQ(got[0].shape(), (Shape{kBatch, kSize, kSize, 2})) << what;
  testing::expect_close(got[0], want[0], 1e-4, what + ": output 'out'");
  testing::expect_close(got[1], want[1], 1e-4, what + ": output 's'");
}

TEST(KerasReference, EveryLayerKindMatchesAHandBuiltReference) {
  std::string path = write_model("every_layer.h5", 5);
  ModelOptions opt;
  opt.input_shapes["input_1"] = {kBatch, kSize, kSize, 3};
  auto m = Model::load(path, opt);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->info().outputs[0].name, "out");
  EXPECT_EQ(m->info().outputs[1].name, "s");
  Tensor x = input(6);
  auto got = m->run({x});
  ASSERT_TRUE(got) << got.error().message();
  expect_matches(*got, reference(5, x), "kiln");
}

TEST(KerasReference, Keras3ConfigAndVariableLengthStrings) {
  std::string path = write_model("every_layer_keras3.h5", 5, true);
  ModelOptions opt;
  opt.input_shapes[""] = {kBatch, kSize, kSize, 3};
  auto m = Model::load(path, opt);
  ASSERT_TRUE(m) << m.error().message();
  Tensor x = input(7);
  auto got = m->run({x});
  ASSERT_TRUE(got) << got.error().message();
  expect_matches(*got, reference(5, x), "keras 3");
}

TEST(KerasReference, WeightsOnlyFileSwappedIn) {
  std::string model = write_model("every_layer_w1.h5", 5);
  std::string weights = temp_path("every_layer_w2_weights.h5");
  write_keras_h5(weights, "", group_by_layer(make_weights(9), kLayers));
  ModelOptions opt;
  opt.input_shapes[""] = {kBatch, kSize, kSize, 3};
  opt.weights = weights;
  auto m = Model::load(model, opt);
  ASSERT_TRUE(m) << m.error().message();
  Tensor x = input(8);
  auto got = m->run({x});
  ASSERT_TRUE(got) << got.error().message();
  expect_matches(*got, reference(9, x), "swapped weights");
}

TEST(KerasReference, OutputsByLayerName) {
  ImportOptions io;
  io.input_shapes[""] = {kBatch, kSize, kSize, 3};
  io.outputs = {"bn", "cat2:0"};
  auto m = import_model(write_model("every_layer_outputs.h5", 5), io);
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_EQ(m->graph.outputs.size(), 2u);
  EXPECT_EQ(m->graph.values[m->graph.outputs[0]].name, "bn");
  EXPECT_EQ(m->graph.values[m->graph.outputs[0]].shape, (Shape{kBatch, kSize, kSize, 4}));
  EXPECT_EQ(m->graph.values[m->graph.outputs[1]].shape, (Shape{kBatch, kSize, kSize, 9}));
  io.outputs = {"no_such_layer"};
  auto bad = import_model(write_model("every_layer_outputs.h5", 5), io);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("'no_such_layer'"), std::string::npos) << bad.error().message();
}

// A Sequential model, and a layer called twice (shared weights), each against the same
// network written as a plain functional model.
TEST(KerasReference, SequentialAndSharedLayersMatchTheirFunctionalForm) {
  testing::Rand rnd(12);
  Tensor k = rnd.tensor({3, 3, 3, 3}), b = rnd.tensor({3});
  json conv = conv_cfg(3, {3, 3}, "same", "relu");
  json pool = {{"pool_size", {2, 2}}, {"padding", "valid"}};
  auto run = [&](const std::string& file, const std::string& config, std::vector<LayerWeights> w) -> Tensor {
    std::string path = temp_path(file);
    write_keras_h5(path, config, w);
    auto m = Model::load(path);
    EXPECT_TRUE(m) << file << ": " << m.error().message();
    if (!m) return {};
    testing::Rand r(13);
    auto y = m->run({r.tensor({1, 8, 8, 3})});
    EXPECT_TRUE(y) << y.error().message();
    return y ? (*y)[0] : Tensor();
  };
  ConfigBuilder f;
  f.input("x", {8, 8, 3});
  f.layer("Conv2D", "a", conv, {"x"});
  f.layer("MaxPooling2D", "p", pool, {"a"});
  f.layer("Conv2D", "b", conv, {"p"});
  f.output("b");
  Tensor want = run("functional.h5", f.dump(), {{"a", {{"a/kernel:0", k}, {"a/bias:0", b}}},
                                                {"b", {{"b/kernel:0", k}, {"b/bias:0", b}}}});
  ASSERT_EQ(want.shape(), (Shape{1, 4, 4, 3}));

  json seq_conv = {{"class_name", "Conv2D"}, {"config", conv}};
  seq_conv["config"]["name"] = "a";
  seq_conv["config"]["batch_input_shape"] = {nullptr, 8, 8, 3};
  json seq_conv2 = {{"class_name", "Conv2D"}, {"config", conv}};
  seq_conv2["config"]["name"] = "b";
  json seq = {{"class_name", "Sequential"},
              {"config", {{"name", "seq"}, {"layers", {seq_conv, {{"class_name", "MaxPooling2D"}, {"config", with_name(pool, "p")}}, seq_conv2}}}}};
  Tensor got = run("sequential.h5", seq.dump(), {{"a", {{"a/kernel:0", k}, {"a/bias:0", b}}},
                                                 {"b", {{"b/kernel:0", k}, {"b/bias:0", b}}}});
  EXPECT_EQ(testing::max_abs_diff(got, want), 0.0) << "Sequential";

  // One Conv2D "a" called on x and again on its own pooled output: inbound node 1 reads p.
  json shared = json::parse(f.dump());
  json& layers = shared["config"]["layers"];
  layers[1]["inbound_nodes"].push_back(json::array({json::array({"p", 0, 0, json::object()})}));
  layers.erase(3);  // layer "b"
  shared["config"]["output_layers"] = json::array({json::array({"a", 1, 0})});
  got = run("shared.h5", shared.dump(), {{"a", {{"a/kernel:0", k}, {"a/bias:0", b}}}});
  EXPECT_EQ(testing::max_abs_diff(got, want), 0.0) << "shared layer";
}

TEST(KerasReference, UnsupportedAndInconsistentConfigsAreNamed) {
  auto load = [](const std::string& file, const ConfigBuilder& c, std::vector<LayerWeights> w = {}) {
    std::string path = temp_path(file);
    write_keras_h5(path, c.dump(), w);
    return import_model(path, {});
  };
  {
    ConfigBuilder c;
    c.input("x", {8, 8, 3});
    c.layer("Lambda", "my_lambda", {{"function", "..."}}, {"x"});
    c.output("my_lambda");
    auto m = load("lambda.h5", c);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(m.error().message().find("layer 'my_lambda' (Lambda)"), std::string::npos) << m.error().message();
  }
  {
    ConfigBuilder c;
    c.input("x", {8, 8, 3});
    c.layer("Conv2D", "conv", conv_cfg(4, {3, 3}, "same", "gelu"), {"x"});
    c.output("conv");
    auto m = load("gelu.h5", c, {{"conv", {{"conv/kernel:0", Tensor::zeros(DType::kF32, {3, 3, 3, 4})},
                                           {"conv/bias:0", Tensor::zeros(DType::kF32, {4})}}}});
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message().find("activation 'gelu'"), std::string::npos) << m.error().message();
  }
  {
    ConfigBuilder c;  // the kernel in the file does not fit the config's 4 filters
    c.input("x", {8, 8, 3});
    c.layer("Conv2D", "conv", conv_cfg(4, {3, 3}, "same", "relu"), {"x"});
    c.output("conv");
    auto m = load("misfit.h5", c, {{"conv", {{"conv/kernel:0", Tensor::zeros(DType::kF32, {3, 3, 3, 5})},
                                             {"conv/bias:0", Tensor::zeros(DType::kF32, {4})}}}});
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code(), ErrorCode::kInvalidModel);
    EXPECT_NE(m.error().message().find("'conv/kernel:0' has shape [3,3,3,5]"), std::string::npos) << m.error().message();
  }
  {
    ConfigBuilder c;  // H and W unknown: the shape must be given
    c.input("x", {-1, -1, 3});
    c.output("x");
    auto m = load("unknown_size.h5", c);
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message().find("unknown size on axis 1"), std::string::npos) << m.error().message();
  }
}

}  // namespace
}  // namespace kiln
