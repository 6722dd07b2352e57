// kiln/model.h — load a model, prepare it once, run it hot.
//
//   #include <kiln/model.h>
//
//   kiln::ModelOptions opt;
//   opt.input_shapes["input"] = {1, 1, 256, 256};       // optional when the file is static
//   kiln::Expected<kiln::Model> model = kiln::Model::load("unet.onnx", opt);
//   if (!model) { std::cerr << model.error().message() << "\n"; return 1; }
//
//   kiln::Tensor image = kiln::Tensor::zeros(kiln::DType::kF32, {1, 1, 256, 256});
//   kiln::Expected<std::vector<kiln::Tensor>> out = model->run({image});
//
// load() imports, optimises, compiles a plan, packs the weights and does one warm-up run,
// so the first run() costs what every later one does. Errors are values, never exceptions.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/calibration.h"
#include "kiln/compile_options.h"
#include "kiln/model_info.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

struct ModelOptions {
  std::map<std::string, Shape> input_shapes;      // override or fill in input shapes ("": the first
                                                  // input; -1 on an axis: the file's size there)
  std::optional<ImageSize> image_size;            // or: the first input is an image of this size
  std::map<std::string, Tensor> constant_inputs;  // inputs whose values are fixed (folded)
  std::vector<std::string> outputs;               // tensors to return by name (default: the model's)
  std::string weights;                            // other weights: .onnx of the same architecture,
                                                  // .safetensors (by initializer name) or .kwp
  std::map<std::string, std::string> name_map;    // safetensors name -> initializer name
  std::string cache_dir;                          // weight-pack cache (mapped on later loads)
  bool warm_up = true;                            // run once at load (see header comment)
  int threads = 0;                                // compute threads; 0: all cores
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kDirect;  // 3x3 stride-1 convolutions
  Precision precision = Precision::kF32;                  // bf16, int8: see kiln/compile_options.h
  // int8: the calibration of these weights (kiln/calibration.h); default
  // "<weights or model file>.calibration.json".
  std::string calibration;
  std::optional<Calibration> calibration_data;  // int8: this one, instead of reading a file
  // run() with inputs of another shape compiles (once) a plan for that shape; at most this
  // many such plans are kept, least recently used dropped first.
  size_t max_shape_plans = 4;
};


// What `path` takes and gives, without compiling a plan or packing weights (import and
// optimise only): inputs and outputs with their shapes under `options`' shapes, layout,
// fingerprint, operators, parameters and FLOPs.
Expected<ModelInfo> describe_model(const std::string& path, const ModelOptions& options = {});
// Whether the file's inputs are channels-last ([N,H,W,C]: TensorFlow and Keras files), as
// ModelInfo::channels_last will say; known from the kind of file alone, before any import.
bool takes_channels_last(const std::string& path);

// One model, prepared and hot: the one-model face of kiln::Engine (kiln/engine.h), with the
// same preparation, and runs on a runner thread of its own.
class Model {
 public:
  static Expected<Model> load(const std::string& path, const ModelOptions& options = {});

  // Inputs in the order of info().inputs, float32, plain row-major in the model's own layout
  // (NCHW for ONNX, NHWC for TensorFlow and Keras models).
  // Inputs of the compiled shape run on the prepared plan; inputs of another shape (that the
  // network accepts) on a plan compiled for it the first time it is seen.
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs);
  // One image of any size at least 1x1, through tiles of the compiled input size (for a
  // smaller image, of its size), for single-input models whose outputs have the input's
  // height and width. Memory grows with the image, not with what a whole-image plan needs.
  // NCHW for ONNX models, NHWC for TensorFlow and Keras ones; batch 1.
  Expected<std::vector<Tensor>> run_tiled(const Tensor& image, const TileOptions& options = {});
  Expected<std::vector<StepProfile>> profile(const std::vector<Tensor>& inputs);
  const ModelInfo& info() const;

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln
