// Importers: model files -> Graph + RawWeights.
//
//   kiln::ImportOptions opt;
//   opt.input_shapes["input"] = {1, 1, 256, 256};
//   kiln::Expected<kiln::ImportedModel> m = kiln::import_onnx("unet.onnx", opt);
//   if (!m) return m.error();
//   // m->graph is shape-specialised and verified; m->weights holds its initializers.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "optimize/optimize.h"

namespace kiln {

struct ImportOptions {
  // Overrides for graph input shapes; unknown dimensions default to 1 for the batch axis
  // and are an error elsewhere (the message says which input and axis). The key "" means
  // the first input. A -1 in an override keeps the file's size on that axis (an image size
  // given without knowing the channel count: resolve_input_shape).
  std::map<std::string, Shape> input_shapes;
  // Graph inputs to treat as constants (e.g. a shape tensor fed at run time by a test
  // harness). They become folded constants or weights.
  std::map<std::string, Tensor> constant_inputs;
  // Tensors to return, by the file's names (TensorFlow: "conv2d_23/Sigmoid" or with ":0").
  // Empty: the importer's default (ONNX: the graph outputs; TensorFlow: the nodes nothing reads).
  std::vector<std::string> outputs;
};

struct ImportedModel {
  Graph graph;
  RawWeights weights;
  std::string producer;  // e.g. "pytorch 1.13.0"
  int opset = 0;
};

Expected<ImportedModel> import_onnx(const std::string& path, const ImportOptions& options);
// TensorFlow frozen GraphDef, binary (.pb) or text (.pbtxt).
Expected<ImportedModel> import_tf_graphdef(const std::string& path, const ImportOptions& options);
// The same from a GraphDef parsed already (import/tf/parsed_model.h); `path` names it in messages.
struct ParsedModel;
Expected<ImportedModel> import_tf_graphdef(const ParsedModel& parsed, const std::string& path,
                                           const ImportOptions& options);
// Keras HDF5 model (model.save(): model_config + weights), .h5 / .hdf5. Inputs keep Keras's
// NHWC shape ([N,H,W,C], also in input_shapes) as do 4-D outputs; weights are named by their
// Keras dataset names ("conv2d_7/kernel:0"). Outputs may be asked for by layer name.
Expected<ImportedModel> import_keras_h5(const std::string& path, const ImportOptions& options);

// Any model file kiln reads, chosen by its extension (.onnx, .pb, .pbtxt, .h5); `parsed`:
// its content parsed already (kiln/engine.h's LoadSpec::parsed), or null to read the file.
Expected<ImportedModel> import_model(const std::string& path, const ImportOptions& options,
                                     const ParsedModel* parsed = nullptr);
// Whether import_model keeps the file's channels-last (NHWC) inputs: TensorFlow and Keras.
bool takes_nhwc_inputs(const std::string& path);

// The first stage of every preparation (engine/prepare.h), and of reading another export's
// weights: the file imported, then optimised (the architecture fingerprint is that of the
// optimised graph), with what the file computes before the rewrites.
struct ReadGraph {
  ImportedModel model;                    // its graph optimised
  OptimizeReport optimizations;
  std::map<std::string, int> source_ops;  // op histogram of the file
  std::vector<std::pair<std::string, Shape>> computed;  // every tensor the file computes, by its name
  double import_ms = 0, optimize_ms = 0;
};
Expected<ReadGraph> read_graph(const std::string& path, const ImportOptions& options,
                               const ParsedModel* parsed = nullptr);

// An input's shape from what the file declares (`declared`, -1 where it does not say) and
// what the caller asked for (`requested`, or null; -1 there keeps the file's size). An
// unknown batch (axis 0) becomes 1. `unknown_axis` is set to the first axis that stays
// unknown (the importer's error names it), else -1.
Shape resolve_input_shape(const Shape& declared, const Shape* requested, int& unknown_axis);
Expected<ImportedModel> import_onnx_bytes(const std::string& bytes, const std::string& base_dir,
                                          const ImportOptions& options);

}  // namespace kiln
