// ONNX files from newer exporters (opsets 18-21): the U-Net fixture exported by PyTorch at
// opset 17 reads the same labelled 18 and 21 (its ops did not change there) against PyTorch's
// own output; Pad's axes input and Resize's axes and keep_aspect_ratio_policy (opset 18) give
// what the full-rank forms of opset 17 give; and what kiln still refuses names its opset.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "kiln/io.h"
#include "kiln/model.h"
#include "test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

std::string fx(const std::string& rel) { return testing::source_path("tests/fixtures/" + rel); }

fs::path write_model(const onnx::ModelProto& m, const std::string& name) {
  const fs::path p = fs::path(::testing::TempDir()) / ("kiln_opset_" + name + "_" + std::to_string(getpid()) + ".onnx");
  std::ofstream f(p, std::ios::binary);
  m.SerializeToOstream(&f);
  return p;
}

void set_opset(onnx::ModelProto& m, int opset) {
  m.clear_opset_import();
  m.add_opset_import()->set_version(opset);
}

TEST(OnnxOpsets, TheOpset17UNetReadsTheSameAsOpset18And21) {
  onnx::ModelProto m;
  std::ifstream f(fx("unet/w4_32x32_opset17/model.onnx"), std::ios::binary);
  ASSERT_TRUE(m.ParseFromIstream(&f));
  auto x = read_npy(fx("unet/w4_32x32_opset17/input.npy"));
  auto y = read_npy(fx("unet/w4_32x32_opset17/expected.npy"));  // PyTorch's
  ASSERT_TRUE(x && y);
  for (int opset : {18, 19, 20, 21}) {
    set_opset(m, opset);
    auto model = Model::load(write_model(m, "unet" + std::to_string(opset)).string());
    ASSERT_TRUE(model) << "opset " << opset << ": " << model.error().message();
    auto out = model->run({*x});
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_LE(testing::max_abs_diff((*out)[0], *y), 1e-4) << "opset " << opset;
  }
}

// x [1,2,6,5] -> Pad -> Resize -> y, built by `build` at `opset`.
onnx::ModelProto pad_resize(int opset, const std::function<void(onnx::GraphProto&)>& build) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  set_opset(m, opset);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("pad_resize");
  auto* in = g.add_input();
  in->set_name("x");
  auto* t = in->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {1, 2, 6, 5}) t->mutable_shape()->add_dim()->set_dim_value(d);
  g.add_output()->set_name("y");
  build(g);
  return m;
}
void ints(onnx::GraphProto& g, const std::string& name, std::vector<int64_t> v) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(v.size()));
  for (int64_t x : v) t->add_int64_data(x);
}
void floats(onnx::GraphProto& g, const std::string& name, std::vector<float> v) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(static_cast<int64_t>(v.size()));
  for (float x : v) t->add_float_data(x);
}
onnx::NodeProto& node(onnx::GraphProto& g, const std::string& op, std::vector<std::string> inputs, const std::string& out) {
  auto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(op);
  for (auto& i : inputs) n->add_input(i);
  n->add_output(out);
  return *n;
}
void attr(onnx::NodeProto& n, const std::string& name, const std::string& s) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(s);
}
void attr(onnx::NodeProto& n, const std::string& name, std::vector<int64_t> v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void attr(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

Expected<std::vector<Tensor>> run(const onnx::ModelProto& m, const std::string& name, const Tensor& x) {
  auto model = Model::load(write_model(m, name).string());
  if (!model) return model.error();
  return model->run({x});
}

Tensor input() {
  Tensor x = Tensor::zeros(DType::kF32, {1, 2, 6, 5});
  for (int64_t i = 0; i < x.elements(); ++i) x.data<float>()[i] = static_cast<float>((i * 37) % 23) / 7.0f;
  return x;
}

TEST(OnnxOpsets, PadAxesAndResizeAxesGiveWhatTheirFullRankFormsGive) {
  const Tensor x = input();
  // Opset 18: pads and scales for H and W only.
  auto axes18 = pad_resize(18, [](onnx::GraphProto& g) {
    ints(g, "pads", {1, 2, 0, 3});
    ints(g, "pad_axes", {-2, 3});
    floats(g, "scales", {2.0f, 1.5f});
    node(g, "Pad", {"x", "pads", "", "pad_axes"}, "p");
    auto& r = node(g, "Resize", {"p", "", "scales"}, "y");
    attr(r, "mode", std::string("linear"));
    attr(r, "axes", std::vector<int64_t>{2, 3});
  });
  auto full17 = pad_resize(17, [](onnx::GraphProto& g) {
    ints(g, "pads", {0, 0, 1, 2, 0, 0, 0, 3});
    floats(g, "scales", {1.0f, 1.0f, 2.0f, 1.5f});
    node(g, "Pad", {"x", "pads"}, "p");
    attr(node(g, "Resize", {"p", "", "scales"}, "y"), "mode", std::string("linear"));
  });
  auto a = run(axes18, "axes18", x), b = run(full17, "full17", x);
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ((*a)[0].shape(), (Shape{1, 2, 14, 15}));  // (6+1) x 2, (5+2+3) x 1.5
  EXPECT_EQ(testing::max_abs_diff((*a)[0], (*b)[0]), 0.0);
}

TEST(OnnxOpsets, KeepAspectRatioPolicySizesAsTheSpecSays) {
  const Tensor x = input();  // 6 x 5
  for (auto [policy, h, w] : std::vector<std::tuple<std::string, int64_t, int64_t>>{
           // sizes 9 x 9: scales 1.5 and 1.8; not_larger takes 1.5 (9 x 7.5 -> 8), not_smaller
           // 1.8 (10.8 -> 11, 9)
           {"not_larger", 9, 8},
           {"not_smaller", 11, 9},
           {"stretch", 9, 9}}) {
    auto policy18 = pad_resize(18, [policy = policy](onnx::GraphProto& g) {
      ints(g, "sizes", {9, 9});
      auto& r = node(g, "Resize", {"x", "", "", "sizes"}, "y");
      attr(r, "axes", std::vector<int64_t>{2, 3});
      attr(r, "keep_aspect_ratio_policy", policy);
    });
    auto sized17 = pad_resize(17, [h = h, w = w](onnx::GraphProto& g) {
      ints(g, "sizes", {1, 2, h, w});
      node(g, "Resize", {"x", "", "", "sizes"}, "y");
    });
    auto a = run(policy18, "policy_" + policy, x), b = run(sized17, "sized_" + policy, x);
    ASSERT_TRUE(a) << policy << ": " << a.error().message();
    ASSERT_TRUE(b) << b.error().message();
    EXPECT_EQ((*a)[0].shape(), (Shape{1, 2, h, w})) << policy;
    EXPECT_EQ(testing::max_abs_diff((*a)[0], (*b)[0]), 0.0) << policy;
  }
}

TEST(OnnxOpsets, WhatIsStillRefusedNamesItsOpset) {
  const Tensor x = input();
  auto antialias = pad_resize(18, [](onnx::GraphProto& g) {
    floats(g, "scales", {1.0f, 1.0f, 0.5f, 0.5f});
    attr(node(g, "Resize", {"x", "", "scales"}, "y"), "antialias", int64_t{1});
  });
  auto wrap = pad_resize(19, [](onnx::GraphProto& g) {
    ints(g, "pads", {0, 0, 1, 1, 0, 0, 1, 1});
    attr(node(g, "Pad", {"x", "pads"}, "y"), "mode", std::string("wrap"));
  });
  auto opset22 = pad_resize(22, [](onnx::GraphProto& g) { node(g, "Relu", {"x"}, "y"); });
  const std::pair<onnx::ModelProto*, std::string> cases[] = {
      {&antialias, "antialias=1 (opset 18)"}, {&wrap, "'wrap' (opset 19)"}, {&opset22, "opset 22 is not supported (kiln reads opsets 1 to 21)"}};
  for (const auto& [m, says] : cases) {
    auto out = run(*m, "refused", x);
    ASSERT_FALSE(out) << says;
    EXPECT_EQ(out.error().code(), ErrorCode::kUnsupported) << out.error().message();
    EXPECT_NE(out.error().message().find(says), std::string::npos) << out.error().message();
  }
}

}  // namespace
}  // namespace kiln
