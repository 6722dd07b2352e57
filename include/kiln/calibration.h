// kiln/calibration.h — calibrating a model for int8 inference.
//
//   std::vector<kiln::Tensor> images = ...;            // typical inputs, in the model's layout
//   kiln::Expected<kiln::Calibration> c = kiln::calibrate("unet.onnx", images);
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
  // Convolutions (by node name) that int8 plans keep fp32: kiln quantize's choice, where
  // int8 moved the outputs too far from fp32's.
  std::vector<std::string> fp32_layers;
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
Status save_calibration(const Calibration& c, const std::string& path);  // JSON
Expected<Calibration> load_calibration(const std::string& path);
// Where int8 loading looks when no calibration is named: "<model>.calibration.json".
std::string default_calibration_path(const std::string& model_path);

}  // namespace kiln
