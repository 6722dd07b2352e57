// kiln/calibration.h — calibrating a model for int8 inference.
//
//   std::vector<kiln::Tensor> images = ...;            // typical inputs, in the model's layout
//   kiln::Expected<kiln::Calibration> c = kiln::calibrate("unet.onnx", images);
//   kiln::choose_float_layers("unet.onnx", *c, images); // optional: where int8 strays from fp32
//   kiln::Status s = kiln::save_calibration(*c, kiln::default_calibration_path("unet.onnx"));
//
//   kiln::ModelOptions opt;
//   opt.precision = kiln::Precision::kInt8;            // reads unet.onnx.calibration.json
//   auto model = kiln::Model::load("unet.onnx", opt);
//
// Calibration runs the model in fp32 on the images (twice: ranges, then histograms) and
// records, for every channel of every activation, its largest value and the clipping point
// with the least squared quantization error. Int8 packing turns the clipping points into the scales of the
// uint8 activations; the plan
// itself does not depend on them, so every model of an architecture shares one int8 plan
// and each brings its own calibration with its weights.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

struct Calibration {
  std::string fingerprint;            // the architecture it was measured on
  int images = 0;
  // Per activation (by name), per channel: the largest value seen, and where uint8
  // quantization clips: the point of [0, max] with the least expected squared error over the
  // images (rounding below, clipping above).
  std::map<std::string, std::vector<float>> max, clip;
  // Convolutions (by node name) that int8 plans keep in floating point: bf16 inputs and
  // weights where the CPU has AVX512_BF16, else fp32. kiln quantize's choice, where int8
  // moved the outputs too far from fp32's.
  std::vector<std::string> float_layers;
};

struct CalibrationOptions {
  std::string weights;                          // weights other than the model file's own
  std::map<std::string, std::string> name_map;  // safetensors name -> initializer name
  // Called after each run (two per image): (runs done, runs in all).
  std::function<void(size_t, size_t)> progress;
};

// Images of any shapes the model accepts, float32, in its layout (NCHW for ONNX, NHWC for
// TensorFlow and Keras), one per tensor (batch 1) or batched.
Expected<Calibration> calibrate(const std::string& model_path, const std::vector<Tensor>& images,
                                const CalibrationOptions& options = {});

// How far an int8 model follows its fp32 self on some images (first output).
struct Int8Agreement {
  int images = 0;
  double max_abs = 0;   // largest |int8 - fp32|
  double mean_abs = 0;  // mean |int8 - fp32|
  double iou = 1;       // mask IoU at 0.5 (1 where neither has a mask)
  std::vector<std::string> int8_layers;  // the convolutions that ran int8
};

struct FloatLayerSearch {
  double target_iou = 0.99;   // stop once int8's mask IoU against fp32 reaches this
  int max_layers = -1;        // keep at most this many convolutions out of int8 (-1: no limit)
  // Called as the search goes: what it is doing ("measuring /enc2/conv2/Conv in floating
  // point (1 of 16)", then each layer kept and the agreement reached).
  std::function<void(const std::string&)> progress;
};

// int8 with calibration `c` against fp32 on `images` (all of one shape). Weights as in
// `options`.
Expected<Int8Agreement> compare_int8(const std::string& model_path, const Calibration& c,
                                     const std::vector<Tensor>& images, const CalibrationOptions& options = {});

// Where int8 moves the masks too far: measures, for each int8 convolution alone, how much
// keeping it in floating point restores the IoU on `images`, then keeps the most helpful
// ones out of int8, one at a time, until the IoU reaches the target (or the layer budget is
// spent). Sets c.float_layers; returns the agreement with them.
Expected<Int8Agreement> choose_float_layers(const std::string& model_path, Calibration& c,
                                           const std::vector<Tensor>& images, const FloatLayerSearch& search = {},
                                           const CalibrationOptions& options = {});
Status save_calibration(const Calibration& c, const std::string& path);  // JSON
Expected<Calibration> load_calibration(const std::string& path);
// Where int8 loading looks when no calibration is named: "<model>.calibration.json".
std::string default_calibration_path(const std::string& model_path);

}  // namespace kiln
