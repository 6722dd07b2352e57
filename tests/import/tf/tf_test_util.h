// Helpers shared by the TensorFlow importer tests: layout permutations, temp files, and
// GraphDefs written in code.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "import/tf/proto/graph.pb.h"
#include "kiln/tensor.h"
#include "reference/reference.h"

namespace kiln::tftest {

// A 4-D float tensor with its axes permuted: out axis k = in axis perm[k] (by the library's
// reference transpose, itself tested in tests/reference/reference_test.cpp).
inline Tensor permute4(const Tensor& t, std::array<int, 4> perm) {
  Tensor in[] = {t};
  auto out = reference::transpose(TransposeAttrs{{perm[0], perm[1], perm[2], perm[3]}}, in);
  EXPECT_TRUE(out) << out.error().message();
  return out ? *out : Tensor();
}
inline Tensor nchw_to_nhwc(const Tensor& t) { return t.shape().size() == 4 ? permute4(t, {0, 2, 3, 1}) : t; }
inline Tensor nhwc_to_nchw(const Tensor& t) { return t.shape().size() == 4 ? permute4(t, {0, 3, 1, 2}) : t; }

inline std::string temp_path(const std::string& file) {
  std::filesystem::path d = std::filesystem::path(::testing::TempDir()) / "kiln_tf";
  std::filesystem::create_directories(d);
  return (d / file).string();
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// GraphDefs written in code.

inline tf::NodeDef* add_node(tf::GraphDef& g, const std::string& name, const std::string& op,
                      std::vector<std::string> inputs = {}) {
  tf::NodeDef* n = g.add_node();
  n->set_name(name);
  n->set_op(op);
  for (auto& i : inputs) n->add_input(i);
  return n;
}
inline void set_type(tf::NodeDef* n, const std::string& key, tf::DataType t) { (*n->mutable_attr())[key].set_type(t); }
inline void set_s(tf::NodeDef* n, const std::string& key, const std::string& s) { (*n->mutable_attr())[key].set_s(s); }
inline void set_b(tf::NodeDef* n, const std::string& key, bool b) { (*n->mutable_attr())[key].set_b(b); }
inline void set_ints(tf::NodeDef* n, const std::string& key, std::vector<int64_t> v) {
  auto* l = (*n->mutable_attr())[key].mutable_list();
  for (int64_t x : v) l->add_i(x);
}
inline tf::NodeDef* add_placeholder(tf::GraphDef& g, const std::string& name, tf::DataType t = tf::DT_FLOAT) {
  tf::NodeDef* n = add_node(g, name, "Placeholder");
  set_type(n, "dtype", t);
  return n;
}
inline tf::NodeDef* add_const(tf::GraphDef& g, const std::string& name, const Shape& shape, std::vector<float> v) {
  tf::NodeDef* n = add_node(g, name, "Const");
  set_type(n, "dtype", tf::DT_FLOAT);
  tf::TensorProto* t = (*n->mutable_attr())["value"].mutable_tensor();
  t->set_dtype(tf::DT_FLOAT);
  for (int64_t d : shape) t->mutable_tensor_shape()->add_dim()->set_size(d);
  for (float f : v) t->add_float_val(f);
  return n;
}
inline tf::NodeDef* add_int_const(tf::GraphDef& g, const std::string& name, std::vector<int> v) {
  tf::NodeDef* n = add_node(g, name, "Const");
  set_type(n, "dtype", tf::DT_INT32);
  tf::TensorProto* t = (*n->mutable_attr())["value"].mutable_tensor();
  t->set_dtype(tf::DT_INT32);
  t->mutable_tensor_shape()->add_dim()->set_size(static_cast<int64_t>(v.size()));
  for (int x : v) t->add_int_val(x);
  return n;
}
inline std::string write_graph(const tf::GraphDef& g, const std::string& file) {
  std::string path = temp_path(file);
  std::ofstream(path, std::ios::binary) << g.SerializeAsString();
  return path;
}

}  // namespace kiln::tftest
