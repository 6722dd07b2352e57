// kiln/model_info.h — what a model takes, gives and costs; shared by kiln::Model and kiln::Engine.
//
//   kiln::Expected<kiln::ModelInfo> info = kiln::describe_model("unet.pb");   // kiln/model.h
//   const kiln::TensorInfo& in = info->inputs[0];      // name and shape as the model takes it
//   bool nhwc = info->channels_last;                    // TensorFlow, Keras: [N,H,W,C]
//
// The input size an image model is compiled for can be given without knowing its layout or
// channel count: ModelOptions::image_size / LoadSpec::image_size = {height, width}.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/tensor.h"

namespace kiln {

struct TensorInfo {
  std::string name;
  Shape shape;
  // An output of class indices (the model ends in ArgMax or ArgMin; float32 values), as a
  // multi-class segmentation's class map: `kiln run --output map.png` writes it as a palette PNG.
  bool class_map = false;
};

// The height and width to compile an image model's first input for; its batch is 1 and its
// channels what the model declares (an input whose shape is given by name keeps that shape).
struct ImageSize {
  int64_t height = 0, width = 0;
};

// Tiled inference (Model::run_tiled, Engine::run_tiled): the image is cut into tiles of the model's compiled
// input size that overlap by `overlap` pixels. Near an edge it shares with a neighbour a tile
// is wrong (zero padding stands where the image goes on), so each tile gives up the outer
// half of every overlap, with a 16-pixel ramp across the middle to hide seams. Every pixel
// then comes from tiles in which it lies at least (overlap - 16) / 2 pixels from such an
// edge: choose the overlap from the network's receptive field (measured on the demo U-Nets:
// 256 keeps tiled results within 1e-3 of whole-image inference).
struct TileOptions {
  int64_t overlap = 256;
};

struct ModelInfo {
  std::vector<TensorInfo> inputs, outputs;
  // Inputs and 4-D outputs are channels-last ([N,H,W,C]: TensorFlow and Keras models) rather
  // than [N,C,H,W] (ONNX). Inside, kiln computes in NCHW either way.
  bool channels_last = false;
  std::string fingerprint;                 // architecture fingerprint, 16 hex digits
  std::string producer;                    // who wrote the file
  int opset = 0;
  int64_t parameters = 0;
  double flops = 0;                        // per run at the compiled shapes
  std::map<std::string, int> source_ops;   // op histogram of the file
  std::vector<TensorInfo> tensors;         // every computed tensor, by the file's name (output candidates)
  std::map<std::string, int> optimizations;  // rewrite rule -> times applied
  // Of the compiled plan (zero from describe_model, which compiles nothing):
  size_t steps = 0;                        // plan steps (primitives, reorders, fallbacks)
  size_t reference_steps = 0;              // steps running naive reference kernels
  size_t arena_bytes = 0;                  // activation arena of one runner
  size_t plan_bytes = 0;                   // process memory its plan took to compile (JIT code, descriptors)
  size_t weight_bytes = 0;                 // packed weights
  bool weights_from_cache = false;         // mapped from the pack cache or a .kwp
  bool plan_shared = false;                // the plan was compiled for another model already
  int threads = 0;                         // compute threads of each runner running it
  // How the plan's convolutions compute ("fp32 direct", "fp32 winograd", "bf16 direct",
  // "int8" -> layers). Where the options left a choice, or forced one, the candidates were
  // timed while compiling: conv_ms is what the chosen ones measured, conv_fp32_direct_ms what
  // fp32 direct measured for the same layers (both 0 when nothing was timed).
  std::map<std::string, int> conv_variants;
  double conv_ms = 0, conv_fp32_direct_ms = 0;
  // Non-empty when an option the user forced (bf16, int8, Winograd) measured slower than
  // fp32 direct on this CPU: says so with the numbers.
  std::string slower_than_fp32;
  // Computations timed while compiling this plan that the timing cache did not hold (0 on a
  // start that found them all cached, or for a shared plan).
  size_t timings_measured = 0;
  // Milliseconds spent in each phase of preparation.
  double import_ms = 0, optimize_ms = 0, compile_ms = 0, pack_ms = 0, warmup_ms = 0;
};

// The model format kiln advertises for an architecture, "kiln-<fingerprint>": a ModelMesh
// ServingRuntime that lists it takes exactly the models that can share its plans
// (docs/deploy.md).
inline std::string model_format_name(const std::string& fingerprint) { return "kiln-" + fingerprint; }

// Per-step timing of one run, for `kiln bench --profile`.
struct StepProfile {
  std::string name, kind, impl;
  double ms = 0;
  double flops = 0;
  // Convolutions: the computation chosen and what the candidates measured while compiling
  // ("fp32 direct 1.204, bf16 direct 0.731").
  std::string variant, measured;
};

}  // namespace kiln
