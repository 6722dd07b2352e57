// Models inside models: a Functional encoder applied to two inputs (its weights shared, as a
// siamese network shares them) and a Sequential head, saved as Keras 2 saves them (each
// nested model's weights in its own group, by variable name), against the same network
// written as one flat functional model with shared layers.
#include <gtest/gtest.h>

#include "import/import.h"
#include "import/keras/keras_test_util.h"
#include "kiln/model.h"
#include "ops/differential.h"

namespace kiln {
namespace {

using namespace kerastest;

constexpr int64_t kSize = 8;

struct Weights {
  Tensor c1k, c1b, c2k, c2b, dk, db;
};

Weights make_weights() {
  testing::Rand r(21);
  return {r.tensor({3, 3, 3, 4}, -0.5f, 0.5f), r.tensor({4}, -0.1f, 0.1f), r.tensor({1, 1, 4, 4}, -0.5f, 0.5f),
          r.tensor({4}, -0.1f, 0.1f),          r.tensor({8, 2}, -0.5f, 0.5f), r.tensor({2}, -0.1f, 0.1f)};
}

json node(std::vector<std::pair<std::string, int>> refs) {
  json n = json::array();
  for (const auto& [layer, call] : refs) n.push_back({layer, call, 0, json::object()});
  return n;
}

// A layer and its calls. (Lists are built with json::array: a one-element brace list is an
// array under GCC but a copy of the element under clang.)
json layer(const std::string& cls, const std::string& name, json cfg, const std::vector<json>& calls) {
  cfg["name"] = name;
  json inbound = json::array();
  for (const json& c : calls) inbound.push_back(c);
  return {{"class_name", cls}, {"name", name}, {"config", cfg}, {"inbound_nodes", inbound}};
}

json ref(const std::string& layer) { return json::array({json::array({layer, 0, 0})}); }

json input_layer(const std::string& name) {
  return layer("InputLayer", name, {{"batch_input_shape", {nullptr, kSize, kSize, 3}}, {"dtype", "float32"}}, {});
}

const json kDense = {{"units", 2}, {"activation", "sigmoid"}, {"use_bias", true}};

// x1, x2 -> c1 -> c2 (both shared) -> concatenated -> Dense on each pixel.
std::string flat_config() {
  json layers = {input_layer("x1"), input_layer("x2"),
                 layer("Conv2D", "c1", conv_cfg(4, {3, 3}, "same", "relu"), {node({{"x1", 0}}), node({{"x2", 0}})}),
                 layer("Conv2D", "c2", conv_cfg(4, {1, 1}, "valid", "linear"), {node({{"c1", 0}}), node({{"c1", 1}})}),
                 layer("Concatenate", "cat", {{"axis", -1}}, {node({{"c2", 0}, {"c2", 1}})}),
                 layer("Dense", "d", kDense, {node({{"cat", 0}})})};
  return json{{"class_name", "Model"},
              {"config", {{"name", "flat"}, {"layers", layers}, {"input_layers", {{"x1", 0, 0}, {"x2", 0, 0}}},
                          {"output_layers", ref("d")}}}}
      .dump();
}

// The same network as a Functional "encoder" called on x1 and on x2, and a Sequential "head".
std::string nested_config(int head_reads_call = 1) {
  json encoder = {{"name", "encoder"},
                  {"layers",
                   {input_layer("enc_in"),
                    layer("Conv2D", "c1", conv_cfg(4, {3, 3}, "same", "relu"), {node({{"enc_in", 0}})}),
                    layer("Conv2D", "c2", conv_cfg(4, {1, 1}, "valid", "linear"), {node({{"c1", 0}})})}},
                  {"input_layers", ref("enc_in")},
                  {"output_layers", ref("c2")}};
  json dense = {{"class_name", "Dense"}, {"config", kDense}};
  dense["config"]["name"] = "d";
  json head = {{"name", "head"}, {"layers", json::array({dense})}};
  json layers = {input_layer("x1"), input_layer("x2"),
                 layer("Functional", "encoder", encoder, {node({{"x1", 0}}), node({{"x2", 0}})}),
                 layer("Concatenate", "cat", {{"axis", -1}}, {node({{"encoder", 0}, {"encoder", head_reads_call}})}),
                 layer("Sequential", "head", head, {node({{"cat", 0}})})};
  return json{{"class_name", "Functional"},
              {"config", {{"name", "nested"}, {"layers", layers}, {"input_layers", {{"x1", 0, 0}, {"x2", 0, 0}}},
                          {"output_layers", ref("head")}}}}
      .dump();
}

TEST(KerasNested, NestedFunctionalAndSequentialModelsMatchTheirFlatForm) {
  const Weights w = make_weights();
  const std::string flat = temp_path("flat.h5"), nested = temp_path("nested.h5");
  write_keras_h5(flat, flat_config(),
                 {{"x1", {}}, {"x2", {}},
                  {"c1", {{"c1/kernel:0", w.c1k}, {"c1/bias:0", w.c1b}}},
                  {"c2", {{"c2/kernel:0", w.c2k}, {"c2/bias:0", w.c2b}}},
                  {"cat", {}},
                  {"d", {{"d/kernel:0", w.dk}, {"d/bias:0", w.db}}}});
  // Keras 2: a nested model's group holds all its layers' weights, named by variable.
  write_keras_h5(nested, nested_config(),
                 {{"x1", {}}, {"x2", {}},
                  {"encoder", {{"c1/kernel:0", w.c1k}, {"c1/bias:0", w.c1b}, {"c2/kernel:0", w.c2k}, {"c2/bias:0", w.c2b}}},
                  {"cat", {}},
                  {"head", {{"d/kernel:0", w.dk}, {"d/bias:0", w.db}}}});
  auto a = Model::load(flat);
  ASSERT_TRUE(a) << a.error().message();
  auto b = Model::load(nested);
  ASSERT_TRUE(b) << b.error().message();
  ASSERT_EQ(b->info().outputs.size(), 1u);
  EXPECT_EQ(b->info().outputs[0].name, "head");
  EXPECT_EQ(b->info().inputs.size(), 2u);
  testing::Rand r(5);
  const Tensor x1 = r.tensor({1, kSize, kSize, 3}), x2 = r.tensor({1, kSize, kSize, 3});
  auto want = a->run({x1, x2});
  ASSERT_TRUE(want) << want.error().message();
  auto got = b->run({x1, x2});
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ((*got)[0].shape(), (Shape{1, kSize, kSize, 2}));
  EXPECT_EQ(testing::max_abs_diff((*got)[0], (*want)[0]), 0.0);
  // Swapping the inputs swaps the encoder's calls: the concatenation, hence the result, changes.
  auto swapped = b->run({x2, x1});
  ASSERT_TRUE(swapped) << swapped.error().message();
  EXPECT_GT(testing::max_abs_diff((*swapped)[0], (*want)[0]), 1e-3);

  ImportOptions io;
  auto imported = import_model(nested, io);
  ASSERT_TRUE(imported) << imported.error().message();
  EXPECT_EQ(imported->weights.tensors.size(), 6u) << "c1, c2 (shared by both calls) and d: kernel and bias each";
}

TEST(KerasNested, ReadingACallTheNestedModelNeverMadeIsNamed) {
  const Weights w = make_weights();
  const std::string path = temp_path("bad_call.h5");
  write_keras_h5(path, nested_config(/*head_reads_call=*/2),
                 {{"x1", {}}, {"x2", {}},
                  {"encoder", {{"c1/kernel:0", w.c1k}, {"c1/bias:0", w.c1b}, {"c2/kernel:0", w.c2k}, {"c2/bias:0", w.c2b}}},
                  {"cat", {}},
                  {"head", {{"d/kernel:0", w.dk}, {"d/bias:0", w.db}}}});
  auto m = Model::load(path);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kInvalidModel);
  EXPECT_NE(m.error().message().find("call 2 of nested model 'encoder'"), std::string::npos) << m.error().message();
}

TEST(KerasNested, ANestedModelsMissingWeightNamesTheLayerAndGroup) {
  const Weights w = make_weights();
  const std::string path = temp_path("missing_weight.h5");
  write_keras_h5(path, nested_config(),
                 {{"x1", {}}, {"x2", {}},
                  {"encoder", {{"c1/kernel:0", w.c1k}, {"c1/bias:0", w.c1b}, {"c2/kernel:0", w.c2k}}},
                  {"cat", {}},
                  {"head", {{"d/kernel:0", w.dk}, {"d/bias:0", w.db}}}});
  auto m = Model::load(path);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("layer 'encoder/c2' (Conv2D)"), std::string::npos) << m.error().message();
  EXPECT_NE(m.error().message().find("no weight 'bias'"), std::string::npos) << m.error().message();
}

}  // namespace
}  // namespace kiln
