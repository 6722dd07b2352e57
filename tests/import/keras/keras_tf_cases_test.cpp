// Keras layers checked against TensorFlow's own outputs. Several of the TensorFlow fixture
// cases (../shared/fixtures/tf) are single Keras layers or close to it; each is rewritten
// here as a Keras model.save() file with the frozen graph's weights (in Keras's layout, as
// the Consts hold them) and must reproduce TensorFlow's output. The same weights written as
// a save_weights() file and swapped into the frozen graph's own plan must too.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "import/keras/keras_test_util.h"
#include "core/status_macros.h"
#include "import/tf/context.h"
#include "kiln/io.h"
#include "kiln/model.h"

namespace kiln {
namespace {

using namespace kerastest;
namespace fs = std::filesystem;

std::string tf_fixtures() { return testing::source_path("../shared/fixtures/tf"); }

struct TfCase {
  std::string name;
  std::function<void(ConfigBuilder&)> layers;        // reading "input"; the last layer is the output
  std::vector<std::pair<std::string, std::string>> weights;  // Keras dataset -> the graph's Const
};

json with(json cfg, const json& extra) {
  for (const auto& [k, v] : extra.items()) cfg[k] = v;
  return cfg;
}

std::vector<TfCase> cases() {
  return {
      {"keras_deconv_same",
       [](ConfigBuilder& c) {
         c.layer("Conv2DTranspose", "keras_deconv_same", conv_cfg(4, {3, 3}, "same", "linear", {2, 2}), {"input"});
         c.output("keras_deconv_same");
       },
       {{"keras_deconv_same/kernel:0", "keras_deconv_same/kernel"}, {"keras_deconv_same/bias:0", "keras_deconv_same/bias"}}},
      {"keras_upsampling2d",
       [](ConfigBuilder& c) {
         c.layer("UpSampling2D", "up", {{"size", {3, 2}}, {"interpolation", "nearest"}}, {"input"});
         c.output("up");
       },
       {}},
      {"single_conv",
       [](ConfigBuilder& c) {
         c.layer("Conv2D", "conv2d", conv_cfg(3, {1, 1}, "valid", "relu"), {"input"});
         c.output("conv2d");
       },
       {{"conv2d/kernel:0", "conv2d/kernel"}, {"conv2d/bias:0", "conv2d/bias"}}},
      {"depthwise_conv2d",
       [](ConfigBuilder& c) {
         json cfg = with(conv_cfg(0, {5, 3}, "same", "linear", {1, 1}, {1, 1}, false), {{"depth_multiplier", 4}});
         cfg.erase("filters");
         c.layer("DepthwiseConv2D", "weights", cfg, {"input"});
         c.output("weights");
       },
       {{"weights/depthwise_kernel:0", "weights"}}},
      {"fused_batch_norm",
       [](ConfigBuilder& c) {
         c.layer("BatchNormalization", "BatchNorm", {{"axis", -1}, {"epsilon", 0.001}}, {"input"});
         c.output("BatchNorm");
       },
       {{"BatchNorm/gamma:0", "BatchNorm/gamma"},
        {"BatchNorm/beta:0", "BatchNorm/beta"},
        {"BatchNorm/moving_mean:0", "BatchNorm/moving_mean"},
        {"BatchNorm/moving_variance:0", "BatchNorm/moving_variance"}}},
      {"ave_pool_same",
       [](ConfigBuilder& c) {
         c.layer("Conv2D", "conv2d", conv_cfg(3, {3, 3}, "same", "linear"), {"input"});
         c.layer("AveragePooling2D", "average_pooling2d", {{"pool_size", {3, 3}}, {"strides", {1, 1}}, {"padding", "same"}},
                 {"conv2d"});
         c.output("average_pooling2d");
       },
       {{"conv2d/kernel:0", "conv2d/kernel"}, {"conv2d/bias:0", "conv2d/bias"}}},
      {"spatial_padding",
       [](ConfigBuilder& c) {
         c.layer("Conv2D", "conv2d", conv_cfg(4, {5, 5}, "valid", "linear", {2, 2}), {"input"});
         c.output("conv2d");
       },
       {{"conv2d/kernel:0", "conv2d/kernel"}, {"conv2d/bias:0", "conv2d/bias"}}},
      {"atrous_conv2d_same",
       [](ConfigBuilder& c) {
         c.layer("Conv2D", "weights_1", conv_cfg(4, {3, 5}, "same", "relu", {1, 1}, {2, 2}, false), {"input"});
         c.output("weights_1");
       },
       {{"weights_1/kernel:0", "weights_1"}}},
  };
}

Expected<Tensor> const_of(const tf::GraphDef& g, const std::string& node) {
  for (const auto& n : g.node())
    if (n.name() == node && n.attr().count("value")) return tf_import::tensor_from_proto(n.attr().at("value").tensor());
  return not_found("no Const '" + node + "'");
}

Expected<Tensor> run(const std::string& model, const Tensor& x, const std::string& weights = {}) {
  ModelOptions opt;
  opt.input_shapes[""] = x.shape();
  opt.weights = weights;
  KILN_ASSIGN_OR_RETURN(Model m, Model::load(model, opt));
  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> out, m.run({x}));
  return out[0];
}

TEST(KerasTfCases, KerasLayersMatchTensorFlow) {
  if (!fs::is_directory(tf_fixtures())) GTEST_SKIP() << "TensorFlow fixtures not found at " << tf_fixtures();
  for (const TfCase& c : cases()) {
    SCOPED_TRACE(c.name);
    fs::path dir = fs::path(tf_fixtures()) / c.name;
    std::string pb = (dir / (c.name + "_net.pb")).string();
    auto x = read_npy((dir / (c.name + "_in.npy")).string());
    auto y = read_npy((dir / (c.name + "_out.npy")).string());
    ASSERT_TRUE(x && y);
    Tensor in = nchw_to_nhwc(*x), want = nchw_to_nhwc(*y);
    tf::GraphDef g;
    ASSERT_TRUE(g.ParseFromString(tftest::read_bytes(pb)));
    std::vector<std::pair<std::string, Tensor>> named;
    std::vector<std::string> layers = {"input"};
    for (const auto& [keras, node] : c.weights) {
      auto t = const_of(g, node);
      ASSERT_TRUE(t) << t.error().message();
      named.emplace_back(keras, *t);
      std::string layer = keras.substr(0, keras.find('/'));
      if (layers.back() != layer) layers.push_back(layer);
    }
    ConfigBuilder cfg;
    cfg.input("input", {in.shape()[1], in.shape()[2], in.shape()[3]});
    c.layers(cfg);
    std::string model = temp_path(c.name + "_model.h5"), weights = temp_path(c.name + "_weights.h5");
    write_keras_h5(model, cfg.dump(), group_by_layer(named, layers));
    write_keras_h5(weights, "", group_by_layer(named, layers));

    auto keras = run(model, in);
    ASSERT_TRUE(keras) << keras.error().message();
    ASSERT_EQ(keras->shape(), want.shape());
    double keras_err = testing::max_abs_diff(*keras, want), swap_err = 0;
    EXPECT_LE(keras_err, 1e-4) << "Keras model vs TensorFlow";
    if (!c.weights.empty()) {
      auto swapped = run(pb, in, weights);
      ASSERT_TRUE(swapped) << swapped.error().message();
      swap_err = testing::max_abs_diff(*swapped, want);
      EXPECT_LE(swap_err, 1e-4) << "frozen graph with the .h5's weights vs TensorFlow";
    }
    std::printf("  %-20s max abs error: Keras model %.2g, frozen graph + .h5 weights %.2g\n", c.name.c_str(), keras_err,
                swap_err);
  }
}

}  // namespace
}  // namespace kiln
