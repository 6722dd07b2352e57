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
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

struct ModelOptions {
  std::map<std::string, Shape> input_shapes;      // override or fill in input shapes
  std::map<std::string, Tensor> constant_inputs;  // inputs whose values are fixed (folded)
  std::vector<std::string> outputs;               // tensors to return by name (default: the model's)
  std::string weights;                            // other weights: .onnx of the same architecture,
                                                  // .safetensors (by initializer name) or .kwp
  std::map<std::string, std::string> name_map;    // safetensors name -> initializer name
  std::string cache_dir;                          // weight-pack cache (mapped on later loads)
  bool warm_up = true;                            // run once at load (see header comment)
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

// Tiled inference (Model::run_tiled): the image is cut into tiles of the model's compiled
// input size that overlap by `overlap` pixels. Near an edge it shares with a neighbour a tile
// is wrong (zero padding stands where the image goes on), so each tile gives up the outer
// half of every overlap, with a 16-pixel ramp across the middle to hide seams. Every pixel
// then comes from tiles in which it lies at least (overlap - 16) / 2 pixels from such an
// edge: choose the overlap from the network's receptive field (measured on the demo U-Nets:
// 256 keeps tiled results within 1e-3 of whole-image inference).
struct TileOptions {
  int64_t overlap = 256;
};

struct TensorInfo {
  std::string name;
  Shape shape;
};

struct ModelInfo {
  std::vector<TensorInfo> inputs, outputs;
  std::string fingerprint;                 // architecture fingerprint, 16 hex digits
  std::string producer;                    // who wrote the file
  int opset = 0;
  int64_t parameters = 0;
  double flops = 0;                        // per run at the compiled shapes
  std::map<std::string, int> source_ops;   // op histogram of the file
  std::vector<TensorInfo> tensors;         // every computed tensor, by the file's name (output candidates)
  std::map<std::string, int> optimizations;  // rewrite rule -> times applied
  size_t steps = 0;                        // plan steps (primitives, reorders, fallbacks)
  size_t reference_steps = 0;              // steps running naive reference kernels
  size_t arena_bytes = 0;                  // activation arena of one runner
  size_t weight_bytes = 0;                 // packed weights
  bool weights_from_cache = false;         // mapped from the pack cache or a .kwp
  // Milliseconds spent in each phase of load().
  double import_ms = 0, optimize_ms = 0, compile_ms = 0, pack_ms = 0, warmup_ms = 0;
};

// Per-step timing of one run, for `kiln bench --profile`.
struct StepProfile {
  std::string name, kind, impl;
  double ms = 0;
  double flops = 0;
};

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
