// kiln's TensorFlow C API run as users' programs run TensorFlow's: frozen graphs made by
// TensorFlow (../shared/fixtures/tf) against TensorFlow's own outputs; a Keras-style U-Net
// (make_tf_unet) against the kiln command on the same file; plan sharing between sessions of
// one architecture; fetching inner tensors; and every error path returning a status.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <cstdio>
#include <filesystem>
#include <string>

#include "kiln_tf.h"
#include "tensorflow/c/c_api.h"
#include "tf_test_util.h"

namespace {

using namespace tftest;
namespace fs = std::filesystem;

std::string fixtures() { return std::string(KILN_SOURCE_DIR) + "/../shared/fixtures/tf"; }

// The graph's input (its float Placeholder) and output (the last node), as the fixtures' README
// says, found by walking the graph as users' helper code prints it.
struct Ends {
  TF_Operation* input = nullptr;
  TF_Operation* output = nullptr;
};
Ends find_ends(TF_Graph* g) {
  Ends e;
  size_t pos = 0;
  while (TF_Operation* op = TF_GraphNextOperation(g, &pos)) {
    if (std::string(TF_OperationOpType(op)) == "Placeholder" && TF_OperationOutputType({op, 0}) == TF_FLOAT)
      e.input = op;
    e.output = op;
  }
  return e;
}

// One run: a fresh output tensor, or the status's message.
TensorPtr run(TF_Session* session, TF_Output in, TF_Tensor* x, TF_Output out, TF_Status* s) {
  TF_Tensor* y = nullptr;
  TF_SessionRun(session, nullptr, &in, &x, 1, &out, &y, 1, nullptr, 0, nullptr, s);
  return TensorPtr(y);
}

std::string report(TF_Session* s) {
  std::string r(kiln_tf_session_report(s, nullptr, 0), '\0');
  kiln_tf_session_report(s, r.data(), r.size() + 1);
  return r;
}

TEST(TfCApiSession, FixturesGiveTensorFlowsOutputsWithinOneHundredThousandth) {
  if (!fs::is_directory(fixtures())) GTEST_SKIP() << "TensorFlow fixtures not found at " << fixtures();
  std::vector<std::string> cases;
  for (const auto& e : fs::directory_iterator(fixtures()))
    if (e.is_directory()) cases.push_back(e.path().filename().string());
  std::sort(cases.begin(), cases.end());
  ASSERT_GE(cases.size(), 20u);
  for (const std::string& c : cases) {
    const std::string dir = fixtures() + "/" + c + "/" + c;
    StatusPtr s(TF_NewStatus());
    TF_Graph* g = load_graph(dir + "_net.pb", s.get());
    ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << c << ": " << TF_Message(s.get());
    Ends e = find_ends(g);
    ASSERT_TRUE(e.input && e.output) << c;
    TF_SessionOptions* so = TF_NewSessionOptions();
    TF_Session* session = TF_NewSession(g, so, s.get());
    TF_DeleteSessionOptions(so);
    ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << c << ": " << TF_Message(s.get());
    const Array x = nchw_to_nhwc(read_npy(dir + "_in.npy")), want = nchw_to_nhwc(read_npy(dir + "_out.npy"));
    ASSERT_FALSE(x.values.empty()) << c;
    // The users' "prepare" run: zeros of the input's shape.
    Array zeros = x;
    std::fill(zeros.values.begin(), zeros.values.end(), 0.0f);
    TensorPtr z = float_tensor(zeros);
    TensorPtr warm = run(session, {e.input, 0}, z.get(), {e.output, 0}, s.get());
    ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << c << ": " << TF_Message(s.get());
    TensorPtr in = float_tensor(x);
    TensorPtr y = run(session, {e.input, 0}, in.get(), {e.output, 0}, s.get());
    ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << c << ": " << TF_Message(s.get());
    ASSERT_EQ(TF_TensorType(y.get()), TF_FLOAT);
    const double err = max_abs_diff(to_array(y.get()), want);
    std::printf("  %-22s max abs error %.2g\n", c.c_str(), err);
    EXPECT_LE(err, 1e-5) << c;
    TF_CloseSession(session, s.get());
    TF_DeleteSession(session, s.get());
    EXPECT_EQ(TF_GetCode(s.get()), TF_OK);
    TF_DeleteGraph(g);
  }
}

// Runs the kiln command on a .pb: the engine's own answer for the same graph and input.
Array kiln_cli(const std::string& model, const std::string& input_npy, const std::string& output_name,
               const std::string& out_npy) {
  const std::string cmd = std::string(KILN_CLI_PATH) + " run " + model + " --input " + input_npy + " --output " +
                          out_npy + " --output-name " + output_name + " > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return read_npy(out_npy);
}

void write_npy(const std::string& path, const Array& a) {
  std::string shape;
  for (int64_t d : a.shape) shape += std::to_string(d) + ",";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  f << "\x93NUMPY" << '\x01' << '\x00' << static_cast<char>(header.size() & 0xff) << static_cast<char>(header.size() >> 8)
    << header;
  f.write(reinterpret_cast<const char*>(a.values.data()), static_cast<std::streamsize>(a.values.size() * 4));
}

Array test_image(int size, int seed) {
  Array a{{1, size, size, 1}, std::vector<float>(static_cast<size_t>(size * size))};
  for (size_t i = 0; i < a.values.size(); ++i) a.values[i] = static_cast<float>(((i * 2654435761u + seed) >> 7) % 1000) / 1000.0f;
  return a;
}

TEST(TfCApiSession, TwoGraphsOfOneArchitectureShareOnePlanAndKeepTheirWeights) {
  const std::string dir = temp_dir();
  const std::string a_pb = make_unet(dir, 1), b_pb = make_unet(dir, 2);
  StatusPtr s(TF_NewStatus());
  TF_Graph* ga = load_graph(a_pb, s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  TF_Graph* gb = load_graph(b_pb, s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  TF_Session* sa = TF_NewSession(ga, nullptr, s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  TF_Output ina{TF_GraphOperationByName(ga, "input_1"), 0}, outa{TF_GraphOperationByName(ga, "conv2d_23/Sigmoid"), 0};
  ASSERT_TRUE(ina.oper && outa.oper);
  const Array img = test_image(64, 3);
  TensorPtr x = float_tensor(img);
  TensorPtr ya = run(sa, ina, x.get(), outa, s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  TF_Session* sb = TF_NewSession(gb, nullptr, s.get());
  TF_Output inb{TF_GraphOperationByName(gb, "input_1"), 0}, outb{TF_GraphOperationByName(gb, "conv2d_23/Sigmoid"), 0};
  TensorPtr yb = run(sb, inb, x.get(), outb, s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());

  const std::string ra = report(sa), rb = report(sb);
  std::printf("  session A: %s\n  session B: %s\n", ra.c_str(), rb.c_str());
  EXPECT_NE(ra.find("\"plan_shared\":false"), std::string::npos) << ra;
  EXPECT_NE(rb.find("\"plan_shared\":true"), std::string::npos) << rb;
  EXPECT_NE(rb.find("\"plans\":1,"), std::string::npos) << "one plan for both sessions: " << rb;
  // Each session computes with its own weights: the kiln command's answer for its file.
  write_npy(dir + "/x.npy", img);
  const Array want_a = kiln_cli(a_pb, dir + "/x.npy", "conv2d_23/Sigmoid", dir + "/ya.npy");
  const Array want_b = kiln_cli(b_pb, dir + "/x.npy", "conv2d_23/Sigmoid", dir + "/yb.npy");
  EXPECT_EQ(max_abs_diff(to_array(ya.get()), want_a), 0.0);
  EXPECT_EQ(max_abs_diff(to_array(yb.get()), want_b), 0.0);
  EXPECT_GT(max_abs_diff(want_a, want_b), 1e-3) << "the two seeds' weights give different masks";
  TF_DeleteSession(sa, s.get());
  TF_DeleteSession(sb, s.get());
  TF_DeleteGraph(ga);
  TF_DeleteGraph(gb);
}

TEST(TfCApiSession, InnerTensorsAreFetchableAndShapesAreTheGraphs) {
  const std::string dir = temp_dir();
  const std::string pb = make_unet(dir, 4);
  StatusPtr s(TF_NewStatus());
  TF_Graph* g = load_graph(pb, s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  TF_Output in{TF_GraphOperationByName(g, "input_1"), 0};
  ASSERT_EQ(TF_GraphGetTensorNumDims(g, in, s.get()), 4);
  int64_t dims[4];
  TF_GraphGetTensorShape(g, in, dims, 4, s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  EXPECT_EQ(dims[0], -1);
  EXPECT_EQ(dims[1], 64);
  EXPECT_EQ(dims[3], 1);
  TF_GraphGetTensorShape(g, in, dims, 3, s.get());
  EXPECT_EQ(TF_GetCode(s.get()), TF_INVALID_ARGUMENT);
  TF_Operation* relu = TF_GraphOperationByName(g, "conv2d/Relu");
  ASSERT_NE(relu, nullptr);
  EXPECT_STREQ(TF_OperationOpType(relu), "Relu");
  EXPECT_EQ(TF_OperationNumInputs(relu), 1);
  TF_Output producer = TF_OperationInput({relu, 0});
  EXPECT_STREQ(TF_OperationName(producer.oper), "conv2d/BiasAdd");
  EXPECT_EQ(TF_OperationOutputNumConsumers({relu, 0}), 1);
  size_t pos = 0, count = 0;
  while (TF_GraphNextOperation(g, &pos)) ++count;
  EXPECT_GT(count, 24u * 5);

  TF_Session* session = TF_NewSession(g, nullptr, s.get());
  const Array img = test_image(64, 9);
  TensorPtr x = float_tensor(img);
  TF_Output fetches[2] = {{TF_GraphOperationByName(g, "conv2d_23/Sigmoid"), 0}, {relu, 0}};
  TF_Tensor* got[2] = {nullptr, nullptr};
  TF_SessionRun(session, nullptr, nullptr, nullptr, 0, fetches, got, 2, nullptr, 0, nullptr, s.get());
  EXPECT_EQ(TF_GetCode(s.get()), TF_INVALID_ARGUMENT) << "input_1 is not fed: " << TF_Message(s.get());
  EXPECT_NE(std::string(TF_Message(s.get())).find("You must feed a value for placeholder tensor 'input_1'"),
            std::string::npos)
      << TF_Message(s.get());
  TF_Tensor* xs[1] = {x.get()};
  TF_SessionRun(session, nullptr, &in, xs, 1, fetches, got, 2, nullptr, 0, nullptr, s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  TensorPtr mask(got[0]), inner(got[1]);
  ASSERT_EQ(TF_NumDims(inner.get()), 4);
  EXPECT_EQ(TF_Dim(inner.get(), 3), 8) << "NHWC, 8 filters";
  write_npy(temp_dir() + "/x.npy", img);
  EXPECT_EQ(max_abs_diff(to_array(inner.get()), kiln_cli(pb, temp_dir() + "/x.npy", "conv2d/Relu", temp_dir() + "/r.npy")), 0.0);
  EXPECT_EQ(max_abs_diff(to_array(mask.get()), kiln_cli(pb, temp_dir() + "/x.npy", "conv2d_23/Sigmoid", temp_dir() + "/m.npy")), 0.0);
  // Another input size: a plan for it, the first one kept.
  TensorPtr big = float_tensor(test_image(96, 1));
  TensorPtr y96 = run(session, in, big.get(), fetches[0], s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  EXPECT_EQ(TF_Dim(y96.get(), 1), 96);
  TF_DeleteSession(session, s.get());
  TF_DeleteGraph(g);
}

TEST(TfCApiSession, GraphsImportedWithPrefixesRunSideBySide) {
  const std::string dir = temp_dir();
  const std::string bytes = read_file(make_unet(dir, 5));
  StatusPtr s(TF_NewStatus());
  TF_Graph* g = TF_NewGraph();
  TF_Buffer* buf = TF_NewBufferFromString(bytes.data(), bytes.size());
  for (const char* prefix : {"a", "b"}) {
    TF_ImportGraphDefOptions* o = TF_NewImportGraphDefOptions();
    TF_ImportGraphDefOptionsSetPrefix(o, prefix);
    TF_GraphImportGraphDef(g, buf, o, s.get());
    TF_DeleteImportGraphDefOptions(o);
    ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  }
  // The same names again, without a prefix that sets them apart: refused, the graph unchanged.
  TF_ImportGraphDefOptions* o = TF_NewImportGraphDefOptions();
  TF_ImportGraphDefOptionsSetPrefix(o, "a");
  TF_GraphImportGraphDef(g, buf, o, s.get());
  TF_DeleteImportGraphDefOptions(o);
  EXPECT_EQ(TF_GetCode(s.get()), TF_INVALID_ARGUMENT);
  EXPECT_NE(std::string(TF_Message(s.get())).find("already exists"), std::string::npos) << TF_Message(s.get());
  TF_DeleteBuffer(buf);
  TF_Session* session = TF_NewSession(g, nullptr, s.get());
  TensorPtr x = float_tensor(test_image(64, 2));
  TensorPtr ya = run(session, {TF_GraphOperationByName(g, "a/input_1"), 0}, x.get(),
                     {TF_GraphOperationByName(g, "a/conv2d_23/Sigmoid"), 0}, s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  TensorPtr yb = run(session, {TF_GraphOperationByName(g, "b/input_1"), 0}, x.get(),
                     {TF_GraphOperationByName(g, "b/conv2d_23/Sigmoid"), 0}, s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  EXPECT_EQ(max_abs_diff(to_array(ya.get()), to_array(yb.get())), 0.0) << "one file imported twice";
  TF_DeleteSession(session, s.get());
  TF_DeleteGraph(g);
}

TEST(TfCApiSession, BadFeedsAndGraphsReturnStatusesAndTheSessionServesOn) {
  const std::string dir = temp_dir();
  StatusPtr s(TF_NewStatus());
  // Not a GraphDef.
  {
    const std::string junk = "this is not a protocol buffer \xff\xff\xff";
    TF_Buffer* buf = TF_NewBufferFromString(junk.data(), junk.size());
    TF_Graph* g = TF_NewGraph();
    TF_GraphImportGraphDef(g, buf, nullptr, s.get());
    EXPECT_EQ(TF_GetCode(s.get()), TF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(TF_Message(s.get())).find("Invalid GraphDef"), std::string::npos) << TF_Message(s.get());
    TF_DeleteBuffer(buf);
    TF_DeleteGraph(g);
  }
  TF_Graph* g = load_graph(make_unet(dir, 6), s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  TF_Session* session = TF_NewSession(g, nullptr, s.get());
  TF_Output in{TF_GraphOperationByName(g, "input_1"), 0}, out{TF_GraphOperationByName(g, "conv2d_23/Sigmoid"), 0};
  EXPECT_EQ(TF_GraphOperationByName(g, "no_such_op"), nullptr);
  TensorPtr good = float_tensor(test_image(64, 4));
  TensorPtr first = run(session, in, good.get(), out, s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  // Wrong type.
  int64_t dims[4] = {1, 64, 64, 1};
  TensorPtr ints(TF_AllocateTensor(TF_INT32, dims, 4, 64 * 64 * 4));
  std::memset(TF_TensorData(ints.get()), 0, 64 * 64 * 4);
  TensorPtr y = run(session, in, ints.get(), out, s.get());
  EXPECT_EQ(TF_GetCode(s.get()), TF_INVALID_ARGUMENT);
  EXPECT_STREQ(TF_Message(s.get()), "Expects arg[0] to be float but int32 is provided");
  EXPECT_EQ(y, nullptr);
  // Wrong shape: three channels where the graph has one.
  TensorPtr rgb = float_tensor(Array{{1, 64, 64, 3}, std::vector<float>(64 * 64 * 3, 0.5f)});
  y = run(session, in, rgb.get(), out, s.get());
  EXPECT_EQ(TF_GetCode(s.get()), TF_INVALID_ARGUMENT) << TF_Message(s.get());
  EXPECT_NE(std::string(TF_Message(s.get())).find("input_1"), std::string::npos) << TF_Message(s.get());
  // No operation, an output that does not exist, a tensor computed inside the graph.
  y = run(session, {nullptr, 0}, good.get(), out, s.get());
  EXPECT_EQ(TF_GetCode(s.get()), TF_INVALID_ARGUMENT) << TF_Message(s.get());
  y = run(session, in, good.get(), {out.oper, 3}, s.get());
  EXPECT_EQ(TF_GetCode(s.get()), TF_NOT_FOUND) << TF_Message(s.get());
  y = run(session, {TF_GraphOperationByName(g, "conv2d/Relu"), 0}, good.get(), out, s.get());
  EXPECT_EQ(TF_GetCode(s.get()), TF_UNIMPLEMENTED) << TF_Message(s.get());
  // Import options kiln does not implement: the import says which.
  TF_ImportGraphDefOptions* o = TF_NewImportGraphDefOptions();
  TF_ImportGraphDefOptionsAddInputMapping(o, "input_1", 0, in);
  TF_Buffer* empty = TF_NewBuffer();
  TF_GraphImportGraphDef(g, empty, o, s.get());
  EXPECT_EQ(TF_GetCode(s.get()), TF_UNIMPLEMENTED);
  EXPECT_NE(std::string(TF_Message(s.get())).find("TF_ImportGraphDefOptionsAddInputMapping"), std::string::npos);
  TF_DeleteBuffer(empty);
  TF_DeleteImportGraphDefOptions(o);
  // After all that, the session serves on, with the same result.
  TensorPtr again = run(session, in, good.get(), out, s.get());
  ASSERT_EQ(TF_GetCode(s.get()), TF_OK) << TF_Message(s.get());
  EXPECT_EQ(max_abs_diff(to_array(first.get()), to_array(again.get())), 0.0);
  // A closed session refuses to run.
  TF_CloseSession(session, s.get());
  y = run(session, in, good.get(), out, s.get());
  EXPECT_NE(TF_GetCode(s.get()), TF_OK);
  TF_DeleteSession(session, s.get());
  TF_DeleteGraph(g);
}

}  // namespace
