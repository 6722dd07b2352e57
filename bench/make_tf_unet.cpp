// Writes a frozen TensorFlow GraphDef of the U-Net the people kiln is for run through
// TensorFlow's C API: the classic Keras U-Net (24 convolutions, input "input_1", output
// "conv2d_23/Sigmoid"), as a TensorFlow 1 freeze of the Keras model names its nodes, with
// He-initialised weights from a seed (two seeds: one architecture, two weight sets).
// TensorFlow is not needed: the graph is written with kiln's copy of the GraphDef schema.
//
//   make_tf_unet OUT.pb [--seed N] [--width W] [--size S]
//
// W is the first level's filters (64 in the original; each level doubles), S the square
// input size ([N,S,S,1], N left unknown as Keras leaves it).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "import/tf/proto/graph.pb.h"

namespace {

namespace tf = kiln::tf;

struct Writer {
  tf::GraphDef g;
  uint64_t state;
  int convs = 0;

  explicit Writer(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}

  double uniform() {  // xorshift64*
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return static_cast<double>((state * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
  }

  tf::NodeDef* node(const std::string& name, const std::string& op, std::vector<std::string> inputs) {
    tf::NodeDef* n = g.add_node();
    n->set_name(name);
    n->set_op(op);
    for (auto& i : inputs) n->add_input(i);
    (*n->mutable_attr())["T"].set_type(tf::DT_FLOAT);
    return n;
  }

  void constant(const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& v) {
    tf::NodeDef* n = g.add_node();
    n->set_name(name);
    n->set_op("Const");
    (*n->mutable_attr())["dtype"].set_type(tf::DT_FLOAT);
    tf::TensorProto* t = (*n->mutable_attr())["value"].mutable_tensor();
    t->set_dtype(tf::DT_FLOAT);
    for (int64_t d : shape) t->mutable_tensor_shape()->add_dim()->set_size(d);
    t->set_tensor_content(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  }

  // conv2d_K: Conv2D (SAME) + BiasAdd + activation, Keras's node names.
  std::string conv(const std::string& x, int64_t in, int64_t out, int k, const std::string& act) {
    const std::string name = convs == 0 ? "conv2d" : "conv2d_" + std::to_string(convs);
    ++convs;
    std::vector<float> w(static_cast<size_t>(k * k * in * out)), b(static_cast<size_t>(out));
    const double scale = std::sqrt(6.0 / static_cast<double>(k * k * in));  // He uniform
    for (float& v : w) v = static_cast<float>((uniform() * 2 - 1) * scale);
    for (float& v : b) v = static_cast<float>((uniform() * 2 - 1) * 0.05);
    constant(name + "/kernel", {k, k, in, out}, w);
    constant(name + "/bias", {out}, b);
    tf::NodeDef* c = node(name + "/Conv2D", "Conv2D", {x, name + "/kernel"});
    (*c->mutable_attr())["padding"].set_s("SAME");
    auto* strides = (*c->mutable_attr())["strides"].mutable_list();
    for (int i = 0; i < 4; ++i) strides->add_i(1);
    (*c->mutable_attr())["data_format"].set_s("NHWC");
    node(name + "/BiasAdd", "BiasAdd", {name + "/Conv2D", name + "/bias"});
    node(name + "/" + act, act, {name + "/BiasAdd"});
    return name + "/" + act;
  }

  std::string pool(const std::string& x, int i) {
    const std::string name = i == 0 ? "max_pooling2d" : "max_pooling2d_" + std::to_string(i);
    tf::NodeDef* p = node(name + "/MaxPool", "MaxPool", {x});
    for (const char* key : {"ksize", "strides"}) {
      auto* l = (*p->mutable_attr())[key].mutable_list();
      for (int v : {1, 2, 2, 1}) l->add_i(v);
    }
    (*p->mutable_attr())["padding"].set_s("VALID");
    return name + "/MaxPool";
  }

  // UpSampling2D as Keras freezes it: the new size computed from the input's shape
  // (Shape -> StridedSlice [1:3] -> Mul by 2), so the graph takes any input size.
  std::string upsample(const std::string& x, int i) {
    const std::string name = i == 0 ? "up_sampling2d" : "up_sampling2d_" + std::to_string(i);
    tf::NodeDef* shape = g.add_node();
    shape->set_name(name + "/Shape");
    shape->set_op("Shape");
    shape->add_input(x);
    (*shape->mutable_attr())["T"].set_type(tf::DT_FLOAT);
    (*shape->mutable_attr())["out_type"].set_type(tf::DT_INT32);
    int_constant(name + "/strided_slice/stack", {1});
    int_constant(name + "/strided_slice/stack_1", {3});
    int_constant(name + "/strided_slice/stack_2", {1});
    tf::NodeDef* slice = g.add_node();
    slice->set_name(name + "/strided_slice");
    slice->set_op("StridedSlice");
    for (const char* in : {"/Shape", "/strided_slice/stack", "/strided_slice/stack_1", "/strided_slice/stack_2"})
      slice->add_input(name + in);
    (*slice->mutable_attr())["T"].set_type(tf::DT_INT32);
    (*slice->mutable_attr())["Index"].set_type(tf::DT_INT32);
    for (const char* mask : {"begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"})
      (*slice->mutable_attr())[mask].set_i(0);
    int_constant(name + "/Const", {2, 2});
    tf::NodeDef* mul = g.add_node();
    mul->set_name(name + "/mul");
    mul->set_op("Mul");
    mul->add_input(name + "/strided_slice");
    mul->add_input(name + "/Const");
    (*mul->mutable_attr())["T"].set_type(tf::DT_INT32);
    node(name + "/ResizeNearestNeighbor", "ResizeNearestNeighbor", {x, name + "/mul"});
    return name + "/ResizeNearestNeighbor";
  }

  void int_constant(const std::string& name, const std::vector<int>& v, bool scalar = false) {
    tf::NodeDef* n = g.add_node();
    n->set_name(name);
    n->set_op("Const");
    (*n->mutable_attr())["dtype"].set_type(tf::DT_INT32);
    tf::TensorProto* t = (*n->mutable_attr())["value"].mutable_tensor();
    t->set_dtype(tf::DT_INT32);
    if (!scalar) t->mutable_tensor_shape()->add_dim()->set_size(static_cast<int64_t>(v.size()));
    for (int x : v) t->add_int_val(x);
  }

  std::string concat(const std::string& a, const std::string& b, int i) {
    const std::string name = i == 0 ? "concatenate" : "concatenate_" + std::to_string(i);
    int_constant(name + "/concat/axis", {3}, /*scalar=*/true);
    tf::NodeDef* c = node(name + "/concat", "ConcatV2", {a, b, name + "/concat/axis"});
    (*c->mutable_attr())["N"].set_i(2);
    (*c->mutable_attr())["Tidx"].set_type(tf::DT_INT32);
    return name + "/concat";
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  uint64_t seed = 1;
  int64_t width = 64, size = 256;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--width" && i + 1 < argc) {
      width = std::atoll(argv[++i]);
    } else if (a == "--size" && i + 1 < argc) {
      size = std::atoll(argv[++i]);
    } else if (out.empty() && a[0] != '-') {
      out = a;
    } else {
      std::fprintf(stderr, "usage: make_tf_unet OUT.pb [--seed N] [--width W] [--size S]\n");
      return 2;
    }
  }
  if (out.empty() || width < 1 || size < 16 || size % 16 != 0) {
    std::fprintf(stderr, "make_tf_unet: give OUT.pb; width >= 1; size a multiple of 16\n");
    return 2;
  }
  Writer w(seed);
  tf::NodeDef* in = w.g.add_node();
  in->set_name("input_1");
  in->set_op("Placeholder");
  (*in->mutable_attr())["dtype"].set_type(tf::DT_FLOAT);
  auto* shape = (*in->mutable_attr())["shape"].mutable_shape();
  for (int64_t d : {int64_t{-1}, size, size, int64_t{1}}) shape->add_dim()->set_size(d);

  std::string x = "input_1";
  std::vector<std::string> skips;
  int64_t ch = 1, f = width;
  for (int level = 0; level < 4; ++level) {  // contracting path
    x = w.conv(x, ch, f, 3, "Relu");
    x = w.conv(x, f, f, 3, "Relu");
    skips.push_back(x);
    x = w.pool(x, level);
    ch = f;
    f *= 2;
  }
  x = w.conv(x, ch, f, 3, "Relu");  // bottom
  x = w.conv(x, f, f, 3, "Relu");
  ch = f;
  for (int level = 3; level >= 0; --level) {  // expanding path
    f /= 2;
    x = w.upsample(x, 3 - level);
    x = w.conv(x, ch, f, 2, "Relu");
    x = w.concat(skips[static_cast<size_t>(level)], x, 3 - level);
    x = w.conv(x, 2 * f, f, 3, "Relu");
    x = w.conv(x, f, f, 3, "Relu");
    ch = f;
  }
  x = w.conv(x, ch, 2, 3, "Relu");
  x = w.conv(x, 2, 1, 1, "Sigmoid");  // conv2d_23/Sigmoid
  if (x != "conv2d_23/Sigmoid") {
    std::fprintf(stderr, "make_tf_unet: built %d convolutions, expected 24\n", w.convs);
    return 1;
  }
  std::ofstream f_out(out, std::ios::binary);
  if (!w.g.SerializeToOstream(&f_out)) {
    std::fprintf(stderr, "make_tf_unet: cannot write '%s'\n", out.c_str());
    return 1;
  }
  std::printf("%s: Keras-style U-Net, 24 convolutions, width %lld, input [?,%lld,%lld,1], seed %llu\n", out.c_str(),
              static_cast<long long>(width), static_cast<long long>(size), static_cast<long long>(size),
              static_cast<unsigned long long>(seed));
  return 0;
}
