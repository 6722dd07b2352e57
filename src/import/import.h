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

namespace kiln {

struct ImportOptions {
  // Overrides for graph input shapes; unknown dimensions default to 1 for the batch axis
  // and are an error elsewhere (the message says which input and axis). The key "" means
  // the first input.
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
// Keras HDF5 model (model.save(): model_config + weights), .h5 / .hdf5. Inputs keep Keras's
// NHWC shape ([N,H,W,C], also in input_shapes) as do 4-D outputs; weights are named by their
// Keras dataset names ("conv2d_7/kernel:0"). Outputs may be asked for by layer name.
Expected<ImportedModel> import_keras_h5(const std::string& path, const ImportOptions& options);

// Any model file kiln reads, chosen by its extension (.onnx, .pb, .pbtxt, .h5).
Expected<ImportedModel> import_model(const std::string& path, const ImportOptions& options);
// Whether import_model keeps the file's channels-last (NHWC) inputs: TensorFlow and Keras.
bool takes_nhwc_inputs(const std::string& path);
Expected<ImportedModel> import_onnx_bytes(const std::string& bytes, const std::string& base_dir,
                                          const ImportOptions& options);

}  // namespace kiln
