// The architecture fingerprint (src/graph/fingerprint.cpp): blind to names, weight values
// and the order values were declared in; sensitive to every structural difference.
#include <gtest/gtest.h>

#include <set>

#include "graph/graph.h"
#include "import/import.h"
#include "optimize/optimize.h"
#include "ops/compile.h"
#include "test_util.h"

namespace kiln {
namespace {

// What a variant of the little test network changes.
struct Variant {
  std::string prefix = "a";   // names of values, weights and nodes
  std::string conv_op = "Conv";  // the source framework's op name
  bool weights_first = false;  // declare every weight before the first node
  int64_t stride = 1;
  int64_t pad = 1;
  float alpha = 0.1f;          // LeakyRelu slope
  int64_t width = 8;           // channels of the first conv
  DType weight_dtype = DType::kF32;
  PoolKind pool = PoolKind::kMax;
  bool swap_concat = false;    // concat(up, skip) instead of concat(skip, up)
  bool skip_from_input = false;  // the second conv reads the input instead of the pool
  bool extra_output = false;
};

// x -> conv(LeakyRelu) -> pool -> conv -> resize x2 -> concat with the first conv -> conv
Graph build(const Variant& v) {
  Graph g;
  const std::string& p = v.prefix;
  int x = g.add_input(p + "input", DType::kF32, {1, 3, 16, 16});
  std::vector<int> w;
  auto weight = [&](const Shape& s) {
    return g.add_weight(p + "param_" + std::to_string(g.values.size()), v.weight_dtype, s);
  };
  const std::vector<Shape> shapes = {{v.width, 3, 3, 3}, {v.width}, {16, v.skip_from_input ? 3 : v.width, 3, 3},
                                     {4, v.width + 16, 1, 1}};
  if (v.weights_first)
    for (const Shape& s : shapes) w.push_back(weight(s));
  auto w_at = [&](size_t i) { return v.weights_first ? w[i] : weight(shapes[i]); };

  ConvAttrs c1;
  c1.kernel = {3, 3};
  c1.strides = {v.stride, v.stride};
  c1.pads = {v.pad, v.pad, v.pad, v.pad};
  c1.has_bias = true;
  c1.post_ops = {PostOp{PostOp::Kind::kUnary, {UnaryKind::kLeakyRelu, v.alpha, 0.0f}, -1}};
  auto shape_of = [&](const OpAttrs& a, const std::vector<int>& ins) {
    std::vector<Shape> s;
    for (int i : ins) s.push_back(g.values[i].shape);
    Expected<Shape> out = infer_shape(a, s);
    EXPECT_TRUE(out) << out.error().message();
    return out ? *out : Shape{};
  };
  auto add = [&](const std::string& name, const std::string& op, const OpAttrs& a, std::vector<int> ins) {
    Shape s = shape_of(a, ins);
    return g.add_node(p + name, op, a, std::move(ins), s, p + name + "_out");
  };
  int w0 = w_at(0), b0 = w_at(1);
  int skip = add("conv1", v.conv_op, c1, {x, w0, b0});
  PoolAttrs pool;
  pool.kind = v.pool;
  pool.kernel = {2, 2};
  pool.strides = {2, 2};
  int down = add("pool", "MaxPool", pool, {skip});
  ConvAttrs c2;
  c2.kernel = {3, 3};
  c2.pads = {1, 1, 1, 1};
  c2.strides = v.skip_from_input ? Spatial{2, 2} : Spatial{1, 1};
  if (v.skip_from_input) c2.pads = {1, 1, 0, 0};
  int mid = add("conv2", v.conv_op, c2, {v.skip_from_input ? x : down, w_at(2)});
  ResizeAttrs up;
  up.out_size = {g.values[skip].shape[2], g.values[skip].shape[3]};
  up.scales = {2.0f, 2.0f};
  int u = add("up", "Resize", up, {mid});
  int cat = add("cat", "Concat", ConcatAttrs{1}, v.swap_concat ? std::vector<int>{u, skip} : std::vector<int>{skip, u});
  int y = add("head", v.conv_op, ConvAttrs{}, {cat, w_at(3)});
  g.mark_output(y);
  if (v.extra_output) g.mark_output(mid);
  EXPECT_TRUE(g.verify());
  return g;
}

TEST(Fingerprint, BlindToNamesAndDeclarationOrder) {
  uint64_t base = fingerprint(build({}));
  Variant renamed;
  renamed.prefix = "onnx::Conv_1234/";
  renamed.conv_op = "Conv2D";
  EXPECT_EQ(fingerprint(build(renamed)), base);
  Variant reordered;
  reordered.weights_first = true;
  EXPECT_EQ(fingerprint(build(reordered)), base);
  // Deterministic: the same graph, built again or copied, hashes the same.
  EXPECT_EQ(fingerprint(build({})), base);
  Graph g = build({});
  Graph copy = g;
  EXPECT_EQ(fingerprint(copy), fingerprint(g));
}

TEST(Fingerprint, EveryStructuralChangeHashesDifferently) {
  std::vector<std::pair<std::string, Variant>> variants;
  variants.emplace_back("base", Variant{});
  auto with = [&](const std::string& what, auto change) {
    Variant v;
    change(v);
    variants.emplace_back(what, v);
  };
  with("stride", [](Variant& v) { v.stride = 2; });
  with("pad", [](Variant& v) { v.pad = 2; });
  with("activation alpha", [](Variant& v) { v.alpha = 0.2f; });
  with("weight shape", [](Variant& v) { v.width = 16; });
  with("weight dtype", [](Variant& v) { v.weight_dtype = DType::kF16; });
  with("pool kind", [](Variant& v) { v.pool = PoolKind::kAverage; });
  with("concat order", [](Variant& v) { v.swap_concat = true; });
  with("connectivity", [](Variant& v) { v.skip_from_input = true; });
  with("outputs", [](Variant& v) { v.extra_output = true; });
  std::map<uint64_t, std::string> seen;
  for (const auto& [what, v] : variants) {
    uint64_t fp = fingerprint(build(v));
    auto [it, inserted] = seen.emplace(fp, what);
    EXPECT_TRUE(inserted) << "'" << what << "' hashes like '" << it->second << "': " << fingerprint_hex(fp);
  }
}

TEST(Fingerprint, WeightShapesCountWeightValuesDoNot) {
  Graph g = build({});
  uint64_t base = fingerprint(g);
  // Attributes edited in place, one at a time.
  Graph a = g;
  std::get<ConvAttrs>(a.nodes[0].attrs).dilations = {2, 2};
  EXPECT_NE(fingerprint(a), base);
  Graph b = g;
  std::get<ResizeAttrs>(b.nodes[3].attrs).coord = CoordTransform::kAsymmetric;
  EXPECT_NE(fingerprint(b), base);
  Graph c = g;
  std::get<ConvAttrs>(c.nodes[0].attrs).pads[3] = 2;  // one asymmetric pad
  EXPECT_NE(fingerprint(c), base);
  // A weight's shape (same element count, other dims) matters; its name does not.
  Graph d = g;
  int bias = d.nodes[0].inputs[2];
  d.values[bias].shape = {1, 8};
  EXPECT_NE(fingerprint(d), base);
  d.values[bias].shape = {8};
  d.values[bias].name = "renamed";
  EXPECT_EQ(fingerprint(d), base);
}

Graph import_optimized(const std::string& dir, uint64_t* plan_fp = nullptr) {
  auto m = import_onnx(testing::source_path(dir + "/model.onnx"), {});
  EXPECT_TRUE(m) << m.error().message();
  if (!m) return {};
  optimize(m->graph);
  if (plan_fp) {
    auto plan = compile_plan(m->graph, {});
    EXPECT_TRUE(plan) << plan.error().message();
    if (plan) *plan_fp = (*plan)->fingerprint;
  }
  return std::move(m->graph);
}

TEST(Fingerprint, UNetFixtures) {
  uint64_t plan_fp = 0;
  Graph w4 = import_optimized("tests/fixtures/unet/w4_64x64", &plan_fp);
  Graph w4_again = import_optimized("tests/fixtures/unet/w4_64x64");
  Graph w8 = import_optimized("tests/fixtures/unet/w8_96x128");
  ASSERT_FALSE(w4.nodes.empty());
  ASSERT_FALSE(w8.nodes.empty());
  EXPECT_EQ(fingerprint(w4), fingerprint(w4_again));
  EXPECT_EQ(plan_fp, fingerprint(w4));  // the plan carries its graph's fingerprint
  EXPECT_NE(fingerprint(w4), fingerprint(w8));
  // The same export with its tensors renamed is the same architecture.
  Graph renamed = w4;
  for (Value& v : renamed.values) v.name = "x_" + std::to_string(v.name.size()) + v.name;
  for (Node& n : renamed.nodes) n.name += "_renamed";
  EXPECT_EQ(fingerprint(renamed), fingerprint(w4));
}

}  // namespace
}  // namespace kiln
