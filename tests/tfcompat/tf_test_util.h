// Helpers of the TensorFlow C API tests: what a user's program has (files, .npy arrays), with
// nothing of kiln but its libtensorflow.so.2 and TensorFlow's header.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tensorflow/c/c_api.h"

namespace tftest {

struct Array {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A little-endian float32 C-order .npy (what the fixtures hold).
inline Array read_npy(const std::string& path) {
  const std::string b = read_file(path);
  Array a;
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0) return a;
  const size_t header_len = b[6] == 1 ? static_cast<uint8_t>(b[8]) | static_cast<uint8_t>(b[9]) << 8 : 0;
  const size_t start = 10 + header_len;
  const std::string h = b.substr(10, header_len);
  if (h.find("'<f4'") == std::string::npos || h.find("'fortran_order': False") == std::string::npos) return a;
  const size_t open = h.find('(', h.find("'shape'")), close = h.find(')', open);
  std::stringstream dims(h.substr(open + 1, close - open - 1));
  for (std::string d; std::getline(dims, d, ',');)
    if (d.find_first_of("0123456789") != std::string::npos) a.shape.push_back(std::stoll(d));
  size_t n = 1;
  for (int64_t d : a.shape) n *= static_cast<size_t>(d);
  if (b.size() < start + n * 4) return {};
  a.values.resize(n);
  std::memcpy(a.values.data(), b.data() + start, n * 4);
  return a;
}

// A 4-D array with axes permuted: out axis k = in axis perm[k].
inline Array permute4(const Array& a, const int perm[4]) {
  if (a.shape.size() != 4) return a;
  Array o;
  for (int k = 0; k < 4; ++k) o.shape.push_back(a.shape[static_cast<size_t>(perm[k])]);
  o.values.resize(a.values.size());
  int64_t in_stride[4] = {a.shape[1] * a.shape[2] * a.shape[3], a.shape[2] * a.shape[3], a.shape[3], 1};
  size_t i = 0;
  for (int64_t x0 = 0; x0 < o.shape[0]; ++x0)
    for (int64_t x1 = 0; x1 < o.shape[1]; ++x1)
      for (int64_t x2 = 0; x2 < o.shape[2]; ++x2)
        for (int64_t x3 = 0; x3 < o.shape[3]; ++x3) {
          const int64_t x[4] = {x0, x1, x2, x3};
          int64_t src = 0;
          for (int k = 0; k < 4; ++k) src += x[k] * in_stride[perm[k]];
          o.values[i++] = a.values[static_cast<size_t>(src)];
        }
  return o;
}
inline Array nchw_to_nhwc(const Array& a) {
  const int p[4] = {0, 2, 3, 1};
  return permute4(a, p);
}

inline std::string temp_dir() {
  const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path d = std::filesystem::path(::testing::TempDir()) / "kiln_tf_capi" /
                            (std::string(t->test_suite_name()) + "." + t->name());
  std::filesystem::create_directories(d);
  return d.string();
}

struct StatusDeleter {
  void operator()(TF_Status* s) const { TF_DeleteStatus(s); }
};
struct TensorDeleter {
  void operator()(TF_Tensor* t) const { TF_DeleteTensor(t); }
};
using StatusPtr = std::unique_ptr<TF_Status, StatusDeleter>;
using TensorPtr = std::unique_ptr<TF_Tensor, TensorDeleter>;

inline TensorPtr float_tensor(const Array& a) {
  TF_Tensor* t = TF_AllocateTensor(TF_FLOAT, a.shape.data(), static_cast<int>(a.shape.size()), a.values.size() * 4);
  if (t) std::memcpy(TF_TensorData(t), a.values.data(), a.values.size() * 4);
  return TensorPtr(t);
}

inline Array to_array(const TF_Tensor* t) {
  Array a;
  for (int i = 0; i < TF_NumDims(t); ++i) a.shape.push_back(TF_Dim(t, i));
  a.values.resize(TF_TensorByteSize(t) / 4);
  std::memcpy(a.values.data(), TF_TensorData(t), a.values.size() * 4);
  return a;
}

inline double max_abs_diff(const Array& a, const Array& b) {
  if (a.shape != b.shape || a.values.size() != b.values.size()) return 1e30;
  double m = 0;
  for (size_t i = 0; i < a.values.size(); ++i) m = std::max(m, static_cast<double>(std::abs(a.values[i] - b.values[i])));
  return m;
}

// A graph imported from a .pb file (empty prefix: names as in the file).
inline TF_Graph* load_graph(const std::string& path, TF_Status* s, const char* prefix = nullptr) {
  const std::string bytes = read_file(path);
  TF_Buffer* buf = TF_NewBufferFromString(bytes.data(), bytes.size());
  TF_Graph* g = TF_NewGraph();
  TF_ImportGraphDefOptions* o = TF_NewImportGraphDefOptions();
  if (prefix) TF_ImportGraphDefOptionsSetPrefix(o, prefix);
  TF_GraphImportGraphDef(g, buf, o, s);
  TF_DeleteImportGraphDefOptions(o);
  TF_DeleteBuffer(buf);
  return g;
}

// make_tf_unet (bench/make_tf_unet.cpp): a Keras-style U-Net frozen graph.
inline std::string make_unet(const std::string& dir, int seed, int width = 8, int size = 64) {
  const std::string path = dir + "/unet_seed" + std::to_string(seed) + ".pb";
  const std::string cmd = std::string(KILN_MAKE_TF_UNET) + " " + path + " --seed " + std::to_string(seed) +
                          " --width " + std::to_string(width) + " --size " + std::to_string(size) + " > /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return path;
}

}  // namespace tftest
