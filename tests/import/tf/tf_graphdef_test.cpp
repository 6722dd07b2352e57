// The TensorFlow GraphDef importer against TensorFlow's own outputs (the OpenCV project's
// frozen-graph test cases in ../shared/fixtures/tf), plus text format, addressing by name,
// pruning of training-phase branches, and errors.
#include <gtest/gtest.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <filesystem>

#include "import/import.h"
#include "import/tf/tf_test_util.h"
#include "kiln/model.h"
#include "test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using namespace tftest;
constexpr double kMaxAbsError = 1e-4;  // OpenCV's tolerance on these cases

std::string fixtures() { return testing::source_path("../shared/fixtures/tf"); }

struct CaseResult {
  bool pass = false;
  std::string detail;
  Tensor output;  // kiln's, in NCHW
};

// Loads <case>_net.pb (or `model` instead), feeds <case>_in.npy in NHWC, and compares the
// output, back in NCHW, with <case>_out.npy.
CaseResult run_case(const std::string& name, const std::string& model = {}) {
  fs::path dir = fs::path(fixtures()) / name;
  auto x = read_npy((dir / (name + "_in.npy")).string());
  auto y = read_npy((dir / (name + "_out.npy")).string());
  if (!x || !y) return {false, "cannot read the .npy files"};
  Tensor in = nchw_to_nhwc(*x);
  ModelOptions opt;
  opt.input_shapes[""] = in.shape();
  auto m = Model::load(model.empty() ? (dir / (name + "_net.pb")).string() : model, opt);
  if (!m) return {false, m.error().message()};
  auto out = m->run({in});
  if (!out) return {false, out.error().message()};
  if (out->size() != 1) return {false, "returns " + std::to_string(out->size()) + " outputs"};
  Tensor got = nhwc_to_nchw((*out)[0]);
  if (got.shape() != y->shape())
    return {false, "shape " + shape_to_string(got.shape()) + ", TensorFlow's " + shape_to_string(y->shape())};
  double err = testing::max_abs_diff(got, *y);
  if (!(err <= kMaxAbsError)) return {false, "max abs error " + std::to_string(err), got};
  return {true, "max abs error " + std::to_string(err), got};
}

bool have_fixtures() { return fs::is_directory(fixtures()); }
#define REQUIRE_FIXTURES() \
  if (!have_fixtures()) GTEST_SKIP() << "TensorFlow fixtures not found at " << fixtures()

TEST(TfGraphDef, FixtureCasesMatchTensorFlow) {
  REQUIRE_FIXTURES();
  std::vector<std::string> cases;
  for (const auto& e : fs::directory_iterator(fixtures()))
    if (e.is_directory()) cases.push_back(e.path().filename().string());
  std::sort(cases.begin(), cases.end());
  ASSERT_FALSE(cases.empty());
  int passed = 0;
  for (const std::string& c : cases) {
    CaseResult r = run_case(c);
    passed += r.pass;
    std::printf("  %-22s %s  %s\n", c.c_str(), r.pass ? "pass" : "FAIL", r.detail.c_str());
    EXPECT_TRUE(r.pass) << c << ": " << r.detail;
  }
  std::printf("TensorFlow fixtures: %d of %zu cases match TensorFlow (max abs error <= %g)\n", passed, cases.size(),
              kMaxAbsError);
}

TEST(TfGraphDef, TextFormatGivesTheSameModel) {
  REQUIRE_FIXTURES();
  for (const std::string name : {"keras_deconv_same", "fused_batch_norm"}) {
    tf::GraphDef g;
    ASSERT_TRUE(g.ParseFromString(read_bytes(fixtures() + "/" + name + "/" + name + "_net.pb")));
    std::string text;
    ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(g, &text));
    // TensorFlow's text files carry fields kiln's schema leaves out: they are skipped.
    text += "library {\n  function {\n    signature {\n      name: \"f\"\n    }\n  }\n}\n";
    std::string path = temp_path(name + ".pbtxt");
    std::ofstream(path) << text;
    CaseResult text_run = run_case(name, path), binary_run = run_case(name);
    EXPECT_TRUE(text_run.pass) << name << ": " << text_run.detail;
    ASSERT_TRUE(binary_run.pass) << name << ": " << binary_run.detail;
    EXPECT_EQ(testing::max_abs_diff(text_run.output, binary_run.output), 0.0) << name;
  }
}

TEST(TfGraphDef, TruncatedFileIsAnInvalidModel) {
  REQUIRE_FIXTURES();
  std::string bytes = read_bytes(fixtures() + "/padding_valid/padding_valid_net.pb");
  ASSERT_GT(bytes.size(), 100u);
  std::string path = temp_path("truncated.pb");
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  auto m = import_tf_graphdef(path, {});
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kInvalidModel) << m.error().message();
  EXPECT_NE(m.error().message().find("truncated"), std::string::npos) << m.error().message();
  EXPECT_NE(m.error().message().find("truncated.pb"), std::string::npos) << m.error().message();
  // Every prefix fails cleanly or imports: never a crash.
  for (size_t len = 0; len < bytes.size(); len += 23) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(len));
    ImportOptions opt;
    opt.input_shapes[""] = {1, 4, 6, 5};
    (void)import_tf_graphdef(path, opt);
  }
}

TEST(TfGraphDef, UnsupportedOpNamesNodeAndOp) {
  tf::GraphDef g;
  add_placeholder(g, "x");
  add_node(g, "my_cumsum", "Cumsum", {"x"});
  auto m = import_tf_graphdef(write_graph(g, "unsupported.pb"), {});
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(m.error().message().find("node 'my_cumsum' (Cumsum)"), std::string::npos) << m.error().message();
}

TEST(TfGraphDef, UnsupportedAttributeIsNamed) {
  tf::GraphDef g;
  add_placeholder(g, "x");
  add_const(g, "w", {1, 1, 2, 2}, {1, 0, 0, 1});
  tf::NodeDef* conv = add_node(g, "conv", "Conv2D", {"x", "w"});
  set_s(conv, "padding", "SOMETIMES");
  ImportOptions opt;
  opt.input_shapes["x"] = {1, 4, 4, 2};
  auto m = import_tf_graphdef(write_graph(g, "bad_attr.pb"), opt);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(m.error().message().find("node 'conv' (Conv2D): padding 'SOMETIMES'"), std::string::npos)
      << m.error().message();
}

TEST(TfGraphDef, InputsAndOutputsByNameWithOrWithoutIndex) {
  REQUIRE_FIXTURES();
  std::string pb = fixtures() + "/single_conv/single_conv_net.pb";
  for (const std::string in_key : {"input", "input:0"}) {
    for (const std::string out_name : {"conv2d/BiasAdd", "conv2d/BiasAdd:0"}) {
      ImportOptions opt;
      opt.input_shapes[in_key] = {1, 6, 5, 3};
      opt.outputs = {out_name};
      auto m = import_tf_graphdef(pb, opt);
      ASSERT_TRUE(m) << m.error().message();
      ASSERT_EQ(m->graph.outputs.size(), 1u);
      const Value& out = m->graph.values[m->graph.outputs[0]];
      EXPECT_EQ(out.name, out_name);
      EXPECT_EQ(out.shape, (Shape{1, 6, 5, 3}));  // NHWC, as TensorFlow gives it
      ASSERT_EQ(m->graph.inputs.size(), 1u);
      EXPECT_EQ(m->graph.values[m->graph.inputs[0]].name, "input");
      EXPECT_EQ(m->graph.values[m->graph.inputs[0]].shape, (Shape{1, 6, 5, 3}));
    }
  }
  // Defaults: the node nothing reads.
  ImportOptions opt;
  opt.input_shapes[""] = {2, 6, 5, 3};
  auto m = import_tf_graphdef(pb, opt);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->graph.values[m->graph.outputs[0]].name, "conv2d/Relu");
  EXPECT_EQ(m->graph.values[m->graph.outputs[0]].shape, (Shape{2, 6, 5, 3}));

  opt.outputs = {"no/such/node:0"};
  auto missing = import_tf_graphdef(pb, opt);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("no/such/node"), std::string::npos);

  auto no_shape = import_tf_graphdef(pb, {});
  ASSERT_FALSE(no_shape);
  EXPECT_EQ(no_shape.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(no_shape.error().message().find("graph input 'input'"), std::string::npos) << no_shape.error().message();
}

TEST(TfGraphDef, UnknownInnerDimensionIsAnErrorNamingTheInput) {
  tf::GraphDef g;
  tf::NodeDef* x = add_placeholder(g, "image");
  auto* shape = (*x->mutable_attr())["shape"].mutable_shape();
  for (int64_t d : {-1, -1, 8, 3}) shape->add_dim()->set_size(d);
  add_node(g, "relu", "Relu", {"image"});
  auto m = import_tf_graphdef(write_graph(g, "unknown_dim.pb"), {});
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(m.error().message().find("'image' has an unknown size on axis 1"), std::string::npos) << m.error().message();
}

// Keras' dropout under tf.cond(learning_phase): the true branch (with its random ops, which
// kiln does not support) is pruned; Merge takes the false branch.
TEST(TfGraphDef, LearningPhaseSwitchTakesTheInferenceBranch) {
  for (bool as_placeholder : {false, true}) {
    tf::GraphDef g;
    add_placeholder(g, "x");
    if (as_placeholder) {
      add_placeholder(g, "keras_learning_phase", tf::DT_BOOL);
    } else {
      tf::NodeDef* f = add_node(g, "lp/default", "Const");
      set_type(f, "dtype", tf::DT_BOOL);
      tf::TensorProto* t = (*f->mutable_attr())["value"].mutable_tensor();
      t->set_dtype(tf::DT_BOOL);
      t->add_bool_val(false);
      add_node(g, "keras_learning_phase", "PlaceholderWithDefault", {"lp/default"});
    }
    add_node(g, "cond/Switch", "Switch", {"x", "keras_learning_phase"});
    add_node(g, "cond/switch_t", "Identity", {"cond/Switch:1"});
    add_int_const(g, "cond/shape", {1, 2, 2, 1});
    add_node(g, "cond/random", "RandomUniform", {"cond/shape", "^cond/switch_t"});
    add_node(g, "cond/dropped", "Mul", {"cond/Switch:1", "cond/random"});
    add_node(g, "cond/kept", "Relu", {"cond/Switch"});
    add_node(g, "cond/Merge", "Merge", {"cond/dropped", "cond/kept"});
    ModelOptions opt;
    opt.input_shapes["x"] = {1, 2, 2, 1};
    auto m = Model::load(write_graph(g, "learning_phase.pb"), opt);
    ASSERT_TRUE(m) << m.error().message();
    auto y = m->run({Tensor::from_floats({1, 2, 2, 1}, {-1, 2, -3, 4})});
    ASSERT_TRUE(y) << y.error().message();
    EXPECT_EQ((*y)[0].to_f32(), (std::vector<float>{0, 2, 0, 4}));
  }
}

// data_format NCHW ops compute on the tensor as it is; NHWC ops through a transpose. Both
// spellings of one convolution + bias + max pool must agree.
TEST(TfGraphDef, NchwDataFormatMatchesNhwc) {
  std::vector<float> w(3 * 3 * 2 * 4), x(1 * 5 * 6 * 2);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>((i * 7) % 11) / 10.0f - 0.5f;
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 5) % 13) / 6.0f - 1.0f;
  Tensor out[2];
  for (int nchw = 0; nchw < 2; ++nchw) {
    tf::GraphDef g;
    add_placeholder(g, "x");
    add_const(g, "w", {3, 3, 2, 4}, w);
    add_const(g, "b", {4}, {0.1f, -0.2f, 0.3f, -0.4f});
    tf::NodeDef* conv = add_node(g, "conv", "Conv2D", {"x", "w"});
    tf::NodeDef* bias = add_node(g, "bias", "BiasAdd", {"conv", "b"});
    tf::NodeDef* pool = add_node(g, "pool", "MaxPool", {"bias"});
    set_s(conv, "padding", "SAME");
    set_s(pool, "padding", "SAME");
    set_ints(conv, "strides", {1, 1, 1, 1});
    set_ints(pool, "ksize", nchw ? std::vector<int64_t>{1, 1, 2, 2} : std::vector<int64_t>{1, 2, 2, 1});
    set_ints(pool, "strides", nchw ? std::vector<int64_t>{1, 1, 2, 2} : std::vector<int64_t>{1, 2, 2, 1});
    for (tf::NodeDef* n : {conv, bias, pool}) set_s(n, "data_format", nchw ? "NCHW" : "NHWC");
    ModelOptions opt;
    Tensor in = Tensor::from_floats({1, 5, 6, 2}, x);
    if (nchw) in = nhwc_to_nchw(in);
    opt.input_shapes["x"] = in.shape();
    auto m = Model::load(write_graph(g, "format.pb"), opt);
    ASSERT_TRUE(m) << m.error().message();
    auto y = m->run({in});
    ASSERT_TRUE(y) << y.error().message();
    out[nchw] = nchw ? (*y)[0] : nhwc_to_nchw((*y)[0]);
  }
  ASSERT_EQ(out[0].shape(), (Shape{1, 4, 3, 3}));
  EXPECT_LE(testing::max_abs_diff(out[0], out[1]), 1e-6);
}

}  // namespace
}  // namespace kiln
