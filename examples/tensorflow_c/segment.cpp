// A program as the people kiln is for write it against TensorFlow's C API: load a frozen
// U-Net, look its input and output up by name, prepare the session with a run on zeros (the
// "Prepare session" button), then segment the real image. Nothing in it is kiln's: built
// against TensorFlow it runs on TensorFlow, relinked against kiln's libtensorflow it runs on
// kiln (`g++ segment.cpp tf_utils.cpp $(pkg-config --cflags --libs kiln-tensorflow)`).
//
//   segment GRAPH.pb INPUT_OP OUTPUT_OP IMAGE.npy MASK.npy [RUNS]
//
// IMAGE.npy: float32 NHWC, as the graph takes it. Prints the prepare and run times.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tensorflow/c/c_api.h"
#include "tf_utils.h"

namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

bool read_npy(const char* path, std::vector<std::int64_t>& shape, std::vector<float>& values) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string b = ss.str();
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0 || b[6] != 1) return false;
  const std::size_t hlen = static_cast<unsigned char>(b[8]) | static_cast<unsigned char>(b[9]) << 8;
  const std::string h = b.substr(10, hlen);
  if (h.find("'<f4'") == std::string::npos || h.find("False") == std::string::npos) return false;
  std::stringstream dims(h.substr(h.find('(') + 1, h.find(')') - h.find('(') - 1));
  std::size_t n = 1;
  for (std::string d; std::getline(dims, d, ',');)
    if (d.find_first_of("0123456789") != std::string::npos) n *= static_cast<std::size_t>(shape.emplace_back(std::stoll(d)));
  if (b.size() < 10 + hlen + n * 4) return false;
  values.resize(n);
  std::memcpy(values.data(), b.data() + 10 + hlen, n * 4);
  return true;
}

bool write_npy(const char* path, const std::vector<std::int64_t>& shape, const float* values, std::size_t n) {
  std::string dims;
  for (std::int64_t d : shape) dims += std::to_string(d) + ",";
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::ofstream f(path, std::ios::binary);
  f << "\x93NUMPY" << '\x01' << '\x00' << static_cast<char>(h.size() & 0xff) << static_cast<char>(h.size() >> 8) << h;
  f.write(reinterpret_cast<const char*>(values), static_cast<std::streamsize>(n * 4));
  return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: segment GRAPH.pb INPUT_OP OUTPUT_OP IMAGE.npy MASK.npy [RUNS]\n");
    return 2;
  }
  const int runs = argc > 6 ? std::atoi(argv[6]) : 5;
  std::printf("TensorFlow C API %s\n", TF_Version());
  TF_Status* status = TF_NewStatus();
  TF_Graph* graph = tf_utils::LoadGraph(argv[1], status);
  if (!graph) {
    std::fprintf(stderr, "cannot load %s: %s\n", argv[1], TF_Message(status));
    return 1;
  }
  TF_Output input = {TF_GraphOperationByName(graph, argv[2]), 0};
  TF_Output output = {TF_GraphOperationByName(graph, argv[3]), 0};
  if (!input.oper || !output.oper) {
    std::fprintf(stderr, "no operation named %s\n", input.oper ? argv[3] : argv[2]);
    return 1;
  }
  std::vector<std::int64_t> shape;
  std::vector<float> image;
  if (!read_npy(argv[4], shape, image)) {
    std::fprintf(stderr, "cannot read %s (a float32 .npy)\n", argv[4]);
    return 1;
  }

  // "Prepare session": a run on zeros, so that the first real image is fast.
  auto t0 = std::chrono::steady_clock::now();
  TF_Session* session = tf_utils::CreateSession(graph, status);
  if (!session) {
    std::fprintf(stderr, "cannot create the session: %s\n", TF_Message(status));
    return 1;
  }
  TF_Tensor* zeros = tf_utils::CreateEmptyTensor(TF_FLOAT, shape);
  TF_Tensor* warm = nullptr;
  if (tf_utils::RunSession(session, &input, &zeros, 1, &output, &warm, 1, status) != TF_OK) {
    std::fprintf(stderr, "prepare run failed: %s\n", TF_Message(status));
    return 1;
  }
  const double prepare_ms = ms_since(t0);
  tf_utils::DeleteTensor(warm);
  tf_utils::DeleteTensor(zeros);

  TF_Tensor* x = tf_utils::CreateTensor(TF_FLOAT, shape, image);
  TF_Tensor* mask = nullptr;
  std::vector<double> times;
  for (int r = 0; r < 1 + runs; ++r) {
    tf_utils::DeleteTensor(mask);
    mask = nullptr;
    auto t = std::chrono::steady_clock::now();
    if (tf_utils::RunSession(session, &input, &x, 1, &output, &mask, 1, status) != TF_OK) {
      std::fprintf(stderr, "run failed: %s\n", TF_Message(status));
      return 1;
    }
    times.push_back(ms_since(t));
  }
  double later = 0;
  for (std::size_t i = 1; i < times.size(); ++i) later += times[i] / static_cast<double>(times.size() - 1);
  std::printf("prepare (session + run on zeros): %.1f ms; first run %.2f ms; later runs %.2f ms (mean of %d)\n",
              prepare_ms, times[0], later, runs);
  const std::vector<std::int64_t> out_shape = tf_utils::GetTensorShape(mask);
  const float* m = static_cast<const float*>(TF_TensorData(mask));
  if (!write_npy(argv[5], out_shape, m, TF_TensorByteSize(mask) / sizeof(float))) {
    std::fprintf(stderr, "cannot write %s\n", argv[5]);
    return 1;
  }
  std::printf("%s: mask of %zu values written to %s\n", argv[3], TF_TensorByteSize(mask) / sizeof(float), argv[5]);
  tf_utils::DeleteTensor(mask);
  tf_utils::DeleteTensor(x);
  tf_utils::DeleteSession(session, status);
  tf_utils::DeleteGraph(graph);
  TF_DeleteStatus(status);
  return 0;
}
