// Helpers for the Keras importer tests: Keras .h5 files written in code with the HDF5 C API
// (the layout tf.keras 2.x writes: model_config at the root, weights under model_weights or
// at the root), model_config JSON built layer by layer, and layout permutations.
#pragma once

#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "import/tf/tf_test_util.h"
#include "kiln/tensor.h"
#include "test_util.h"

namespace kiln::kerastest {

using nlohmann::json;
using tftest::nchw_to_nhwc;
using tftest::nhwc_to_nchw;
using tftest::permute4;

inline std::string fixtures() { return testing::source_path("../shared/fixtures/keras"); }
inline bool have_fixtures() { return std::filesystem::is_regular_file(fixtures() + "/fullModel.h5"); }
#define REQUIRE_KERAS_FIXTURES() \
  if (!kerastest::have_fixtures()) GTEST_SKIP() << "Keras fixtures not found at " << kerastest::fixtures()

// A file in a folder of the running test's own, so that tests run as parallel processes
// (ctest -j) never write each other's files.
inline std::string temp_path(const std::string& file) {
  const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string sub = t ? std::string(t->test_suite_name()) + "." + t->name() : "shared";
  std::filesystem::path d = std::filesystem::path(::testing::TempDir()) / "kiln_keras" / sub;
  std::filesystem::create_directories(d);
  return (d / file).string();
}

// One layer's weights in file order: ("conv2d_1/kernel:0", tensor in Keras's layout).
struct LayerWeights {
  std::string layer;
  std::vector<std::pair<std::string, Tensor>> weights;
};

// Weights by dataset name ("conv2d_1/kernel:0"), grouped into layers by the part before '/'.
inline std::vector<LayerWeights> group_by_layer(const std::vector<std::pair<std::string, Tensor>>& named,
                                                const std::vector<std::string>& layer_order) {
  std::vector<LayerWeights> out;
  for (const std::string& l : layer_order) {
    LayerWeights lw{l, {}};
    for (const auto& [name, t] : named)
      if (name.substr(0, name.find('/')) == l) lw.weights.emplace_back(name, t);
    out.push_back(std::move(lw));
  }
  return out;
}

// A string attribute: fixed-length NUL-padded strings as h5py stores numpy bytes (what
// Keras 2 writes), or variable-length ones (h5py's str).
inline void write_strings(hid_t obj, const char* name, const std::vector<std::string>& v, bool scalar, bool vlen) {
  hid_t type = H5Tcopy(H5T_C_S1);
  hsize_t n = v.size();
  hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr);
  if (vlen) {
    H5Tset_size(type, H5T_VARIABLE);
    std::vector<const char*> ptrs;
    for (const auto& s : v) ptrs.push_back(s.c_str());
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, type, ptrs.data());
    H5Aclose(a);
  } else {
    size_t len = 1;
    for (const auto& s : v) len = std::max(len, s.size());
    H5Tset_size(type, len);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    std::vector<char> buf(len * v.size(), '\0');
    for (size_t i = 0; i < v.size(); ++i) std::copy(v[i].begin(), v[i].end(), buf.begin() + i * len);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, type, buf.data());
    H5Aclose(a);
  }
  H5Sclose(space);
  H5Tclose(type);
}

// h5py's encoding of an empty list: a zero-length float array.
inline void write_empty_list(hid_t obj, const char* name) {
  hsize_t n = 0;
  hid_t space = H5Screate_simple(1, &n, nullptr);
  hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Aclose(a);
  H5Sclose(space);
}

// model.save() when model_config is set (weights under "model_weights"), else save_weights()
// (weights at the root).
inline void write_keras_h5(const std::string& path, const std::string& model_config,
                           const std::vector<LayerWeights>& layers, bool vlen_strings = false,
                           const std::string& keras_version = "2.3.0-tf") {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0) << path;
  hid_t target = f;
  if (!model_config.empty()) {
    write_strings(f, "model_config", {model_config}, true, vlen_strings);
    write_strings(f, "keras_version", {keras_version}, true, vlen_strings);
    write_strings(f, "backend", {"tensorflow"}, true, vlen_strings);
    target = H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  }
  std::vector<std::string> names;
  for (const auto& l : layers) names.push_back(l.layer);
  if (names.empty()) write_empty_list(target, "layer_names");
  else write_strings(target, "layer_names", names, false, vlen_strings);
  write_strings(target, "keras_version", {keras_version}, true, vlen_strings);
  write_strings(target, "backend", {"tensorflow"}, true, vlen_strings);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  for (const auto& l : layers) {
    hid_t g = H5Gcreate2(target, l.layer.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<std::string> wn;
    for (const auto& [n, t] : l.weights) wn.push_back(n);
    if (wn.empty()) write_empty_list(g, "weight_names");
    else write_strings(g, "weight_names", wn, false, vlen_strings);
    for (const auto& [n, t] : l.weights) {
      std::vector<hsize_t> dims(t.shape().begin(), t.shape().end());
      hid_t space = dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
      hid_t ds = H5Dcreate2(g, n.c_str(), H5T_IEEE_F32LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
      H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data<float>());
      H5Dclose(ds);
      H5Sclose(space);
    }
    H5Gclose(g);
  }
  H5Pclose(lcpl);
  if (target != f) H5Gclose(target);
  H5Fclose(f);
}

// model_config JSON, one layer at a time, in Keras 2's Functional format (or Keras 3's).
class ConfigBuilder {
 public:
  explicit ConfigBuilder(bool keras3 = false) : keras3_(keras3) {}

  void input(const std::string& name, const std::vector<int64_t>& hwc) {
    json shape = json::array({nullptr});
    for (int64_t d : hwc) shape.push_back(d);
    json cfg = {{"name", name}, {"dtype", "float32"}, {"sparse", false}, {"ragged", false}};
    cfg[keras3_ ? "batch_shape" : "batch_input_shape"] = shape;
    layers_.push_back({{"class_name", "InputLayer"}, {"name", name}, {"config", cfg}, {"inbound_nodes", json::array()}});
    inputs_.push_back({name, 0, 0});
  }
  // A layer reading the (first call of the) named layers.
  void layer(const std::string& cls, const std::string& name, json cfg, const std::vector<std::string>& ins) {
    cfg["name"] = name;
    cfg["trainable"] = true;
    cfg["dtype"] = "float32";
    json node;
    if (keras3_) {
      json tensors = json::array();
      for (const auto& i : ins)
        tensors.push_back({{"class_name", "__keras_tensor__"},
                           {"config", {{"shape", json::array()}, {"dtype", "float32"}, {"keras_history", {i, 0, 0}}}}});
      node = {{"args", ins.size() == 1 ? json::array({tensors[0]}) : json::array({tensors})}, {"kwargs", json::object()}};
    } else {
      node = json::array();
      for (const auto& i : ins) node.push_back({i, 0, 0, json::object()});
    }
    layers_.push_back({{"class_name", cls}, {"name", name}, {"config", cfg}, {"inbound_nodes", json::array({node})}});
  }
  void output(const std::string& name) { outputs_.push_back({name, 0, 0}); }

  std::string dump() const {
    json m = {{"class_name", keras3_ ? "Functional" : "Model"},
              {"config", {{"name", "model"}, {"layers", layers_}, {"input_layers", inputs_}, {"output_layers", outputs_}}}};
    return m.dump();
  }

 private:
  bool keras3_;
  json layers_ = json::array();
  json inputs_ = json::array();
  json outputs_ = json::array();
};

// Common layer configs.
inline json conv_cfg(int64_t filters, std::vector<int64_t> k, const std::string& padding, const std::string& act,
                     std::vector<int64_t> strides = {1, 1}, std::vector<int64_t> dilation = {1, 1}, bool bias = true) {
  return {{"filters", filters}, {"kernel_size", k}, {"strides", strides}, {"padding", padding},
          {"data_format", "channels_last"}, {"dilation_rate", dilation}, {"activation", act}, {"use_bias", bias}};
}

}  // namespace kiln::kerastest
