// "A Keras-layout U-Net's weights swapped into the shared plan give the same outputs as a
// graph with those weights frozen in." A small U-Net is written twice in the test: as the
// TensorFlow GraphDef Keras would freeze (Const names of both TensorFlow 1, "conv2d_1/kernel"
// read through "/read", and TensorFlow 2, "conv2d_2/Conv2D/ReadVariableOp") and as a Keras
// model.save() file. Weight sets W1 and W2 are frozen into the GraphDef or written as .h5.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>

#include "import/weight_file.h"
#include "core/status_macros.h"
#include "import/import.h"
#include "import/keras/keras_test_util.h"
#include "import/keras/weight_match.h"
#include "kiln/engine.h"
#include "kiln/model.h"
#include "ops/differential.h"

namespace kiln {
namespace {

using namespace kerastest;
using namespace tftest;

const Shape kInput = {1, 8, 8, 3};

using Named = std::vector<std::pair<std::string, Tensor>>;

Named unet_weights(uint32_t seed) {
  testing::Rand r(seed);
  auto w = [&](const Shape& s) { return r.tensor(s, -0.5f, 0.5f); };
  return {
      {"conv2d_1/kernel:0", w({3, 3, 3, 4})},
      {"conv2d_1/bias:0", w({4})},
      {"batch_normalization_1/gamma:0", w({4})},
      {"batch_normalization_1/beta:0", w({4})},
      {"batch_normalization_1/moving_mean:0", w({4})},
      {"batch_normalization_1/moving_variance:0", r.tensor({4}, 0.5f, 1.5f)},
      {"separable_conv2d_1/depthwise_kernel:0", w({3, 3, 4, 2})},
      {"separable_conv2d_1/pointwise_kernel:0", w({1, 1, 8, 6})},
      {"separable_conv2d_1/bias:0", w({6})},
      {"conv2d_transpose_1/kernel:0", w({3, 3, 5, 10})},
      {"conv2d_transpose_1/bias:0", w({5})},
      {"conv2d_2/kernel:0", w({1, 1, 5, 1})},
      {"conv2d_2/bias:0", w({1})},
  };
}

const std::vector<std::string> kLayers = {"input_1", "conv2d_1", "batch_normalization_1", "max_pooling2d_1",
                                          "separable_conv2d_1", "up_sampling2d_1", "concatenate_1",
                                          "conv2d_transpose_1", "conv2d_2"};

std::string unet_config() {
  ConfigBuilder c;
  c.input("input_1", {8, 8, 3});
  c.layer("Conv2D", "conv2d_1", conv_cfg(4, {3, 3}, "same", "relu"), {"input_1"});
  c.layer("BatchNormalization", "batch_normalization_1", {{"axis", -1}, {"epsilon", 0.001}}, {"conv2d_1"});
  c.layer("MaxPooling2D", "max_pooling2d_1", {{"pool_size", {2, 2}}, {"padding", "valid"}}, {"batch_normalization_1"});
  json s = conv_cfg(6, {3, 3}, "same", "relu");
  s["depth_multiplier"] = 2;
  c.layer("SeparableConv2D", "separable_conv2d_1", s, {"max_pooling2d_1"});
  c.layer("UpSampling2D", "up_sampling2d_1", {{"size", {2, 2}}, {"interpolation", "nearest"}}, {"separable_conv2d_1"});
  c.layer("Concatenate", "concatenate_1", {{"axis", -1}}, {"up_sampling2d_1", "batch_normalization_1"});
  c.layer("Conv2DTranspose", "conv2d_transpose_1", conv_cfg(5, {3, 3}, "same", "linear", {2, 2}), {"concatenate_1"});
  c.layer("Conv2D", "conv2d_2", conv_cfg(1, {1, 1}, "valid", "sigmoid"), {"conv2d_transpose_1"});
  c.output("conv2d_2");
  return c.dump();
}

// The GraphDef Keras freezes for the same network, weights frozen in as Consts.
std::string write_unet_graph(const std::string& file, const Named& named) {
  std::map<std::string, Tensor> w(named.begin(), named.end());
  tf::GraphDef g;
  auto konst = [&](const std::string& name, const std::string& keras) {
    const Tensor& t = w.at(keras);
    add_const(g, name, t.shape(), t.to_f32());
  };
  auto conv = [&](const std::string& name, const std::string& op, std::vector<std::string> ins, const char* padding) {
    tf::NodeDef* n = add_node(g, name, op, std::move(ins));
    set_ints(n, "strides", {1, 1, 1, 1});
    set_s(n, "padding", padding);
    return n;
  };
  add_placeholder(g, "input_1");
  konst("conv2d_1/kernel", "conv2d_1/kernel:0");
  add_node(g, "conv2d_1/kernel/read", "Identity", {"conv2d_1/kernel"});
  konst("conv2d_1/bias", "conv2d_1/bias:0");
  add_node(g, "conv2d_1/bias/read", "Identity", {"conv2d_1/bias"});
  conv("conv2d_1/Conv2D", "Conv2D", {"input_1", "conv2d_1/kernel/read"}, "SAME");
  add_node(g, "conv2d_1/BiasAdd", "BiasAdd", {"conv2d_1/Conv2D", "conv2d_1/bias/read"});
  add_node(g, "conv2d_1/Relu", "Relu", {"conv2d_1/BiasAdd"});
  for (const char* v : {"gamma", "beta", "moving_mean", "moving_variance"})
    konst(std::string("batch_normalization_1/") + v, std::string("batch_normalization_1/") + v + ":0");
  tf::NodeDef* bn = add_node(g, "batch_normalization_1/FusedBatchNormV3", "FusedBatchNormV3",
                             {"conv2d_1/Relu", "batch_normalization_1/gamma", "batch_normalization_1/beta",
                              "batch_normalization_1/moving_mean", "batch_normalization_1/moving_variance"});
  set_b(bn, "is_training", false);
  (*bn->mutable_attr())["epsilon"].set_f(0.001f);
  tf::NodeDef* mp = add_node(g, "max_pooling2d_1/MaxPool", "MaxPool", {"batch_normalization_1/FusedBatchNormV3"});
  set_ints(mp, "ksize", {1, 2, 2, 1});
  set_ints(mp, "strides", {1, 2, 2, 1});
  set_s(mp, "padding", "VALID");
  konst("separable_conv2d_1/separable_conv2d/ReadVariableOp", "separable_conv2d_1/depthwise_kernel:0");
  konst("separable_conv2d_1/separable_conv2d/ReadVariableOp_1", "separable_conv2d_1/pointwise_kernel:0");
  konst("separable_conv2d_1/BiasAdd/ReadVariableOp", "separable_conv2d_1/bias:0");
  conv("separable_conv2d_1/separable_conv2d/depthwise", "DepthwiseConv2dNative",
       {"max_pooling2d_1/MaxPool", "separable_conv2d_1/separable_conv2d/ReadVariableOp"}, "SAME");
  conv("separable_conv2d_1/separable_conv2d", "Conv2D",
       {"separable_conv2d_1/separable_conv2d/depthwise", "separable_conv2d_1/separable_conv2d/ReadVariableOp_1"}, "VALID");
  add_node(g, "separable_conv2d_1/BiasAdd", "BiasAdd",
           {"separable_conv2d_1/separable_conv2d", "separable_conv2d_1/BiasAdd/ReadVariableOp"});
  add_node(g, "separable_conv2d_1/Relu", "Relu", {"separable_conv2d_1/BiasAdd"});
  add_int_const(g, "up_sampling2d_1/mul", {8, 8});
  tf::NodeDef* up = add_node(g, "up_sampling2d_1/ResizeNearestNeighbor", "ResizeNearestNeighbor",
                             {"separable_conv2d_1/Relu", "up_sampling2d_1/mul"});
  set_b(up, "half_pixel_centers", true);
  add_int_const(g, "concatenate_1/concat/axis", {3});
  add_node(g, "concatenate_1/concat", "ConcatV2",
           {"up_sampling2d_1/ResizeNearestNeighbor", "batch_normalization_1/FusedBatchNormV3", "concatenate_1/concat/axis"});
  konst("conv2d_transpose_1/kernel", "conv2d_transpose_1/kernel:0");
  konst("conv2d_transpose_1/bias", "conv2d_transpose_1/bias:0");
  add_int_const(g, "conv2d_transpose_1/stack", {1, 16, 16, 5});
  tf::NodeDef* ct = add_node(g, "conv2d_transpose_1/conv2d_transpose", "Conv2DBackpropInput",
                             {"conv2d_transpose_1/stack", "conv2d_transpose_1/kernel", "concatenate_1/concat"});
  set_ints(ct, "strides", {1, 2, 2, 1});
  set_s(ct, "padding", "SAME");
  add_node(g, "conv2d_transpose_1/BiasAdd", "BiasAdd", {"conv2d_transpose_1/conv2d_transpose", "conv2d_transpose_1/bias"});
  konst("model/conv2d_2/Conv2D/ReadVariableOp", "conv2d_2/kernel:0");
  konst("model/conv2d_2/BiasAdd/ReadVariableOp", "conv2d_2/bias:0");
  conv("model/conv2d_2/Conv2D", "Conv2D", {"conv2d_transpose_1/BiasAdd", "model/conv2d_2/Conv2D/ReadVariableOp"}, "VALID");
  add_node(g, "model/conv2d_2/BiasAdd", "BiasAdd", {"model/conv2d_2/Conv2D", "model/conv2d_2/BiasAdd/ReadVariableOp"});
  add_node(g, "model/conv2d_2/Sigmoid", "Sigmoid", {"model/conv2d_2/BiasAdd"});
  std::string path = kerastest::temp_path(file);
  std::ofstream(path, std::ios::binary) << g.SerializeAsString();
  return path;
}

std::string write_weights(const std::string& file, const Named& w, bool full_model = false) {
  std::string path = kerastest::temp_path(file);
  write_keras_h5(path, full_model ? unet_config() : "", group_by_layer(w, kLayers));
  return path;
}

Tensor unet_input() {
  testing::Rand r(21);
  return r.tensor(kInput);
}

Expected<Tensor> run(const std::string& model, const std::string& weights = {}) {
  ModelOptions opt;
  opt.input_shapes[""] = kInput;
  opt.weights = weights;
  KILN_ASSIGN_OR_RETURN(Model m, Model::load(model, opt));
  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> out, m.run({unet_input()}));
  return out[0];
}

TEST(KerasSwap, TensorFlowGraphAndKerasModelAgree) {
  auto pb = run(write_unet_graph("unet_w1.pb", unet_weights(1)));
  auto h5 = run(write_weights("unet_w1_model.h5", unet_weights(1), true));
  ASSERT_TRUE(pb) << pb.error().message();
  ASSERT_TRUE(h5) << h5.error().message();
  EXPECT_EQ(pb->shape(), (Shape{1, 16, 16, 1}));
  testing::expect_close(*h5, *pb, 1e-5, "Keras .h5 vs TensorFlow .pb");
}

TEST(KerasSwap, KerasWeightsInTheTensorFlowPlanEqualFrozenWeights) {
  std::string pb_w1 = write_unet_graph("unet_w1.pb", unet_weights(1));
  auto frozen_w2 = run(write_unet_graph("unet_w2.pb", unet_weights(2)));
  ASSERT_TRUE(frozen_w2) << frozen_w2.error().message();
  auto own = run(pb_w1);
  ASSERT_TRUE(own) << own.error().message();
  EXPECT_GT(testing::max_abs_diff(*own, *frozen_w2), 1e-3);
  // A save_weights() file and a model.save() file, both of W2, into the W1 graph's plan.
  for (bool full : {false, true}) {
    auto swapped = run(pb_w1, write_weights(full ? "unet_w2_model.h5" : "unet_w2_weights.h5", unet_weights(2), full));
    ASSERT_TRUE(swapped) << swapped.error().message();
    EXPECT_EQ(testing::max_abs_diff(*swapped, *frozen_w2), 0.0) << (full ? "model.save() file" : "save_weights() file");
  }
}

TEST(KerasSwap, EngineSharesOnePlanAcrossFrozenAndSwappedWeights) {
  std::string pb_w1 = write_unet_graph("unet_w1.pb", unet_weights(1));
  std::string pb_w2 = write_unet_graph("unet_w2.pb", unet_weights(2));
  std::string w2 = write_weights("unet_w2_weights.h5", unet_weights(2));
  Engine e;
  std::map<std::string, Shape> shapes = {{"", kInput}};
  ASSERT_TRUE(e.load("frozen_w2", LoadSpec{pb_w2, "", {}, shapes, {}}));
  ASSERT_TRUE(e.wait_ready("frozen_w2", std::chrono::seconds(60)));
  ASSERT_TRUE(e.load("swapped", LoadSpec{pb_w1, w2, {}, shapes, {}}));
  ASSERT_TRUE(e.load("w1", LoadSpec{pb_w1, "", {}, shapes, {}}));
  ASSERT_TRUE(e.wait_ready("swapped", std::chrono::seconds(60))) << e.status("swapped")->error;
  ASSERT_TRUE(e.wait_ready("w1", std::chrono::seconds(60)));
  EXPECT_TRUE(e.status("swapped")->plan_shared);
  EXPECT_TRUE(e.status("w1")->plan_shared);
  auto want = e.run("frozen_w2", {unet_input()});
  auto got = e.run("swapped", {unet_input()});
  ASSERT_TRUE(want && got);
  EXPECT_EQ(testing::max_abs_diff((*got)[0], (*want)[0]), 0.0);
  // A hot swap of a running model to the same Keras weights.
  ASSERT_TRUE(e.load_weights("w1", w2));
  auto hot = e.run("w1", {unet_input()});
  ASSERT_TRUE(hot);
  EXPECT_EQ(testing::max_abs_diff((*hot)[0], (*want)[0]), 0.0);
}

TEST(KerasSwap, MismatchesNameTheTensor) {
  std::string pb = write_unet_graph("unet_w1.pb", unet_weights(1));
  struct Case {
    std::string file, expect;
    std::function<void(Named&)> edit;
  };
  std::vector<Case> cases = {
      {"missing.h5", "'model/conv2d_2/BiasAdd/ReadVariableOp'", [](Named& w) { w.pop_back(); }},
      {"misshaped.h5", "'conv2d_transpose_1/kernel:0'",
       [](Named& w) { w[9].second = Tensor::zeros(DType::kF32, {3, 3, 5, 11}); }},
      {"extra.h5", "'conv2d_2/extra:0'", [](Named& w) { w.emplace_back("conv2d_2/extra:0", Tensor::zeros(DType::kF32, {1})); }},
  };
  for (const Case& c : cases) {
    Named w = unet_weights(2);
    c.edit(w);
    auto r = run(pb, write_weights(c.file, w));
    ASSERT_FALSE(r) << c.file;
    EXPECT_NE(r.error().message().find(c.expect), std::string::npos) << c.file << ": " << r.error().message();
  }
}

TEST(KerasSwap, LayoutIsInferredWhenTheImporterDidNotRecordIt) {
  ImportOptions io;
  io.input_shapes[""] = kInput;
  auto m = import_model(write_weights("unet_w1_model.h5", unet_weights(1), true), io);
  ASSERT_TRUE(m) << m.error().message();
  Graph g = m->graph;
  for (Value& v : g.values) v.origin = {};  // as an ONNX import leaves them
  WeightSignature sig = weight_signature(g);
  auto raw = read_weight_file(write_weights("unet_w1_weights.h5", unet_weights(1)), {}, g, sig, {});
  ASSERT_TRUE(raw) << raw.error().message();
  for (const std::string& n : sig.names) EXPECT_EQ(testing::max_abs_diff(raw->tensors.at(n), m->weights.tensors.at(n)), 0.0) << n;

  // A 3x3 kernel from 3 to 3 channels fits as stored and transposed: refused, not guessed.
  Graph amb;
  int x = amb.add_input("x", DType::kF32, {1, 3, 5, 5});
  int k = amb.add_weight("k/kernel:0", DType::kF32, {3, 3, 3, 3});
  ConvAttrs a;
  a.kernel = {3, 3};
  amb.mark_output(amb.add_node("k", "Conv", a, {x, k}, {1, 3, 3, 3}));
  std::string path = kerastest::temp_path("ambiguous.h5");
  write_keras_h5(path, "", {{"k", {{"k/kernel:0", Tensor::zeros(DType::kF32, {3, 3, 3, 3})}}}});
  auto r = read_weight_file(path, {}, amb, weight_signature(amb), {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("both"), std::string::npos) << r.error().message();
}

TEST(KerasSwap, TensorFlowReadSuffixesAreStripped) {
  using keras_import::strip_read_suffixes;
  EXPECT_EQ(strip_read_suffixes("conv2d_7/kernel"), "conv2d_7/kernel");
  EXPECT_EQ(strip_read_suffixes("conv2d_7/kernel:0"), "conv2d_7/kernel");
  EXPECT_EQ(strip_read_suffixes("conv2d_7/kernel/read"), "conv2d_7/kernel");
  EXPECT_EQ(strip_read_suffixes("conv2d_7/kernel/Read/ReadVariableOp:0"), "conv2d_7/kernel");
  EXPECT_EQ(strip_read_suffixes("conv2d_7/Conv2D/ReadVariableOp"), "conv2d_7/Conv2D");
  EXPECT_EQ(strip_read_suffixes("bn/FusedBatchNormV3/ReadVariableOp_1"), "bn/FusedBatchNormV3");
  EXPECT_EQ(strip_read_suffixes("ReadVariableOp"), "ReadVariableOp");
}

}  // namespace
}  // namespace kiln
