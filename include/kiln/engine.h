// kiln/engine.h — many models, one prepared plan per architecture, weights swapped hot.
//
//   kiln::EngineOptions opt;
//   opt.cache_dir = "/var/cache/kiln";                   // packed weights survive restarts
//   kiln::Engine engine(opt);
//   engine.load("bottle", {.model = "unet.onnx"});                       // returns at once
//   engine.load("cable", {.model = "unet.onnx", .weights = "cable.safetensors"});
//   if (kiln::Status s = engine.wait_ready("cable", std::chrono::seconds(30)); !s) ...
//   auto out = engine.run("cable", {image});             // hot from the first request
//   engine.load_weights("cable", "cable_v2.safetensors");  // atomic: in-flight runs keep the old
//
// Models whose graphs have the same architecture fingerprint and input shapes share one
// compiled plan; each has its own weight pack. Preparation (compile if the plan is new,
// pack, one warm-up run) happens on a background thread; a model is "ready" only after its
// warm-up run, so its first request pays no preparation.
#pragma once

#include <chrono>
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

enum class ModelState { kLoading, kPreparing, kReady, kFailed };
const char* model_state_name(ModelState s);

// Engine::run with inputs of another height and width than the model was loaded with
// compiles (or shares) a plan for that size on first use and keeps the last four per model.
// Compiling a plan times the computations it may choose among (kiln/compile_options.h) and
// keeps the timings, per CPU model and oneDNN version, in the engine's cache_dir or else in
// this directory, so that a later start does not time again. Default: none (the kiln
// command sets $XDG_CACHE_HOME/kiln, else ~/.cache/kiln).
void set_timing_cache_dir(const std::string& dir);

struct EngineOptions {
  int runners = 1;                   // execution contexts: concurrent runs
  // Compute threads of each runner; 0: the cores OpenMP sees (OMP_NUM_THREADS, else all)
  // divided among the runners, at least one each.
  int threads = 0;
  std::string cache_dir;             // weight-pack cache directory; empty: no cache
  size_t cache_limit_bytes = size_t{4} << 30;
  // Per plan whose packed weights are at most this size, the buffer of unloaded or
  // swapped-out weights is kept for the next pack: swapping weights back and forth then
  // faults in no fresh memory (otherwise the largest part of packing). 0: never.
  size_t recycle_weight_bytes = size_t{64} << 20;
  // 3x3 stride-1 convolutions: direct, Winograd, or per layer by measurement at compile
  // time. Part of what makes two models share a plan.
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kDirect;
  Precision precision = Precision::kF32;  // also part of what makes models share a plan
  // A model is ready once a new plan has run once on every runner (kernels, arena pages and
  // thread teams warm); false skips that run (a one-shot command), arenas are still reserved.
  bool warm_up = true;
};

// A model file's content parsed in memory, made inside kiln (its TensorFlow C API parses each
// GraphDef once, for the graph functions and for the engine); opaque here.
struct ParsedModel;

struct LoadSpec {
  std::string model;                                // model file (.onnx, .pb, .pbtxt, .h5): the architecture
                                                    // (and weights)
  std::string weights;                              // optional: .onnx of the same architecture, .safetensors,
                                                    // Keras .h5, or a weight pack (.kwp) written by
                                                    // export_pack / `kiln pack`
  std::map<std::string, std::string> name_map;      // safetensors name -> graph initializer name
  std::map<std::string, Shape> input_shapes;        // "" = the first input; -1 on an axis: the file's size
  std::optional<ImageSize> image_size;              // or: the first input is an image of this size
  std::map<std::string, Tensor> constant_inputs;    // inputs whose values are fixed (folded at import)
  std::vector<std::string> outputs;                 // tensors to return by name (default: the model's)
  std::string calibration;                          // int8: default "<weights or model>.calibration.json";
                                                    // load_weights(W) reads "W.calibration.json"
  std::optional<Calibration> calibration_data;      // int8: this calibration, instead of a file
  size_t max_shape_plans = 4;                       // plans for other input sizes kept (LRU)
  // `model` parsed already: imported from memory instead of reading the file again. The
  // engine lets go of it once the model is prepared (another input size reads the file).
  std::shared_ptr<const ParsedModel> parsed;
};

struct ModelStatus {
  std::string name;
  ModelState state = ModelState::kLoading;
  std::string phase;          // what preparation is doing now
  double progress = 0;        // 0..1
  std::string error;          // why it failed
  ErrorCode error_code = ErrorCode::kOk;  // and what kind of failure (kiln/status.h)
  std::string fingerprint;
  bool plan_shared = false;   // the plan was already compiled for another model
  bool weights_from_cache = false;
  double prepare_ms = 0;      // import to ready, warm-up included
  double import_ms = 0, compile_ms = 0, pack_ms = 0, warmup_ms = 0;  // its parts
  size_t weight_bytes = 0;
  std::vector<std::pair<std::string, Shape>> inputs, outputs;  // names and shapes, once prepared
};

struct MemoryReport {
  size_t plans = 0, models = 0;
  size_t plan_bytes = 0;             // process RSS growth while compiling plans (JIT code, descriptors)
  size_t weight_bytes_resident = 0;  // packed weights on the heap
  size_t weight_bytes_mapped = 0;    // packed weights mapped from the cache
  size_t arena_bytes = 0;            // all runners' activation arenas
  size_t spare_weight_bytes = 0;     // buffers of released weights kept for the next pack
};

// The process's resident memory now, and the most it may use: its cgroup's limit (a
// container's), else the machine's memory. What an engine's memory is measured against.
size_t process_resident_bytes();
size_t process_memory_limit_bytes();

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();  // finishes background preparation first
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts loading; returns at once. Fails now only for a name already in use.
  Status load(const std::string& name, LoadSpec spec);
  // Waits until `name` is ready (ok), failed (its error), or the timeout passes.
  Status wait_ready(const std::string& name, std::chrono::milliseconds timeout);
  Expected<ModelStatus> status(const std::string& name) const;
  std::vector<ModelStatus> models() const;
  // What a ready model takes and gives (its own tensor names), and its plan's figures.
  Expected<ModelInfo> info(const std::string& name) const;

  Expected<std::vector<Tensor>> run(const std::string& name, const std::vector<Tensor>& inputs);
  // One image of any size through tiles of the loaded input size (TileOptions): for
  // single-input models whose outputs are as high and wide as the input; batch 1, in the
  // model's layout (ModelInfo::channels_last).
  Expected<std::vector<Tensor>> run_tiled(const std::string& name, const Tensor& image, const TileOptions& options = {});
  // One run of the loaded input size with every step timed (`kiln bench --profile`).
  Expected<std::vector<StepProfile>> profile(const std::string& name, const std::vector<Tensor>& inputs);
  // Replaces the model's weights atomically; on any mismatch the old weights stay.
  Status load_weights(const std::string& name, const std::string& path,
                      const std::map<std::string, std::string>& name_map = {});
  Status unload(const std::string& name);
  // Writes the model's packed weights as a weight-pack file (mmap-able, checksummed).
  Status export_pack(const std::string& name, const std::string& path) const;
  MemoryReport memory() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln
