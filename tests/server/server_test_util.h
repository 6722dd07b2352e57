// What the server tests share: a repository of real models, requests in both encodings, and
// the in-process reference (kiln::Model on the same files) that server outputs must equal.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <random>

#include "kiln/model.h"
#include "server/serve_process.h"
#include "test_util.h"

namespace kiln::testing {

namespace fs = std::filesystem;
using nlohmann::json;

inline fs::path fixture(const std::string& rel) { return source_path("tests/fixtures/" + rel); }
inline fs::path demo_file(const std::string& rel) { return source_path("models/demo/" + rel); }

// unet/ (the width-4 U-Net fixture: one 64x64 gray input 'input'), and two demo models that
// share _shared/unet.onnx through their config.json (leather, wood_grain).
inline fs::path standard_repository(const std::string& name) {
  fs::path repo = make_repository(name);
  fs::create_directories(repo / "unet");
  fs::copy_file(fixture("unet/w4_64x64/model.onnx"), repo / "unet/model.onnx");
  fs::create_directories(repo / "_shared");
  fs::copy_file(demo_file("unet.onnx"), repo / "_shared/unet.onnx");
  for (const char* c : {"leather", "wood_grain"}) {
    fs::create_directories(repo / c);
    fs::copy_file(demo_file(std::string(c) + ".safetensors"), repo / c / (std::string(c) + ".safetensors"));
    write_file(repo / c / "config.json",
               json{{"model", "../_shared/unet.onnx"}, {"weights", std::string(c) + ".safetensors"}}.dump());
  }
  return repo;
}

inline Tensor random_image(const Shape& s, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  Tensor t = Tensor::zeros(DType::kF32, s);
  for (int64_t i = 0; i < t.elements(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

// The in-process result the server's must equal.
inline Tensor reference_output(const std::string& model, const Tensor& x, const std::string& weights = "") {
  ModelOptions opt;
  opt.weights = weights;
  opt.input_shapes[""] = x.shape();
  auto m = Model::load(model, opt);
  EXPECT_TRUE(m) << m.error().message();
  if (!m) return {};
  auto out = m->run({x});
  EXPECT_TRUE(out) << out.error().message();
  return out ? (*out)[0] : Tensor();
}

inline std::vector<float> values(const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.elements()); }

// A JSON infer request for one FP32 input.
inline std::string json_request(const std::string& input, const Tensor& x) {
  return json{{"inputs", {{{"name", input}, {"shape", x.shape()}, {"datatype", "FP32"}, {"data", values(x)}}}}}.dump();
}

// A binary-extension request (one FP32 input, every output binary) and its header length.
inline std::pair<std::string, size_t> binary_request(const std::string& input, const Tensor& x) {
  std::string head = json{{"inputs", {{{"name", input}, {"shape", x.shape()}, {"datatype", "FP32"},
                                       {"parameters", {{"binary_data_size", x.bytes()}}}}}},
                          {"parameters", {{"binary_data_output", true}}}}
                         .dump();
  const size_t n = head.size();
  head.append(static_cast<const char*>(x.raw()), x.bytes());
  return {head, n};
}

// The first output of a binary response, as floats.
inline std::vector<float> binary_output(const httplib::Result& r) {
  if (!r || r->status != 200) return {};
  const size_t n = std::stoul(r->get_header_value("Inference-Header-Content-Length"));
  std::vector<float> v((r->body.size() - n) / sizeof(float));
  std::memcpy(v.data(), r->body.data() + n, v.size() * sizeof(float));
  return v;
}

}  // namespace kiln::testing
